"""Where a run folder is written: any fsspec URL, safely.

Responses are always appended to a *local* file while the run goes (a local output path is
written in place; a remote one such as ``s3://bucket/prefix`` is staged in a local folder),
because object stores have no append and a crash must not lose what was measured. At the end
the staged folder is uploaded file by file with retries and exponential backoff, stats.json
last, so a run folder with a stats.json on S3 is complete. If the upload still fails,
``StorageError`` says where the local copy is.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import fsspec
import orjson
from fsspec.implementations.local import LocalFileSystem

from .errors import ConfigError, StorageError

__all__ = ["RunFolder", "is_local", "join_url", "UPLOAD_ORDER"]

log = logging.getLogger(__name__)

#: Files of a run folder in upload order: stats.json last marks the folder complete.
UPLOAD_ORDER = ("run_config.json", "payload.jsonl", "responses.jsonl", "summary.json", "stats.json")


def is_local(url: str) -> bool:
    fs, _ = fsspec.core.url_to_fs(url)
    return isinstance(fs, LocalFileSystem)


def join_url(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


class RunFolder:
    """A run folder: local while the run writes, published to ``url`` at the end."""

    def __init__(self, output_path: str, run_name: str, upload_attempts: int = 5, backoff_s: float = 1.0):
        self.url = join_url(str(output_path), run_name)
        self.fs, self.remote_path = fsspec.core.url_to_fs(self.url)
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            self.path = Path(self.remote_path)
        else:
            staging_root = Path(os.environ.get("LLMETER_STAGING_DIR") or Path(tempfile.gettempdir()) / "llmeter-flows-staging")
            self.path = staging_root / f"{run_name}-{os.getpid()}-{time.time_ns()}"
        self.upload_attempts = upload_attempts
        self.backoff_s = backoff_s
        self._responses: IO[bytes] | None = None

    def check_new(self) -> None:
        """Refuse to write into a folder that already holds a run (nothing measured is overwritten)."""
        try:
            exists = self.fs.exists(f"{self.remote_path}/responses.jsonl") or self.fs.exists(
                f"{self.remote_path}/stats.json"
            )
        except Exception as exc:  # unreachable store: fail before sending load
            raise ConfigError("output_path", f"cannot reach {self.url}: {exc}") from exc
        if exists:
            raise ConfigError("run_name", f"{self.url} already holds a run; choose another run_name or output_path")

    def open(self) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        self._responses = open(self.path / "responses.jsonl", "ab", buffering=1 << 16)

    def write_json(self, name: str, data: Any) -> None:
        (self.path / name).write_bytes(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str))

    def write_lines(self, name: str, lines: list[bytes]) -> None:
        with open(self.path / name, "wb") as handle:
            for line in lines:
                handle.write(line + b"\n")

    def append_response(self, line: bytes) -> None:
        assert self._responses is not None, "RunFolder.open() first"
        self._responses.write(line + b"\n")

    def flush(self) -> None:
        if self._responses is not None:
            self._responses.flush()

    def close(self) -> None:
        if self._responses is not None:
            self._responses.close()
            self._responses = None

    def publish(self) -> str:
        """Upload a staged folder (no-op for a local one). Returns the folder's URL."""
        self.close()
        if self.local:
            return self.url
        names = [n for n in UPLOAD_ORDER if (self.path / n).exists()]
        names += sorted(p.name for p in self.path.iterdir() if p.is_file() and p.name not in UPLOAD_ORDER)
        for name in names:
            self._upload(self.path / name, f"{self.remote_path}/{name}")
        return self.url

    def _upload(self, local: Path, remote: str) -> None:
        delay = self.backoff_s
        for attempt in range(1, self.upload_attempts + 1):
            try:
                self.fs.put_file(str(local), remote)
                return
            except Exception as exc:  # any store error: retry, then keep the local copy
                if attempt == self.upload_attempts:
                    raise StorageError(f"upload of {local.name} to {self.url} failed after {attempt} attempts: {exc}", local_path=str(self.path)) from exc
                log.warning("upload of %s failed (attempt %d/%d): %s; retrying in %.1f s", local.name, attempt, self.upload_attempts, exc, delay)
                time.sleep(delay)
                delay *= 2
