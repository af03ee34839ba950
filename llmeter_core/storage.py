"""Where a run folder is written: any fsspec URL, safely.

Responses are always appended to a *local* file while the run goes (a local output path is
written in place; a remote one such as ``s3://bucket/prefix`` is staged in a local folder),
because object stores have no append and a crash must not lose what was measured.

The rules this module keeps:

- **Bad output paths fail before any request** (``ConfigError`` naming ``output_path``): an
  empty path, an unknown URL scheme, a folder that is a file, read-only or not writable.
- **One run per folder.** ``claim`` creates ``run_config.json`` with ``O_EXCL``, so of two
  runs started at the same moment with the same name exactly one gets the folder (the other
  a ``ConfigError`` naming ``run_name``); a remote folder must not exist yet either.
- **A write error stops the run, never tears the folder.** Every file but responses.jsonl is
  written to a temporary name and renamed, so it is whole or absent. responses.jsonl gets
  whole lines only: lines are buffered and written with ``os.write``; if a write fails
  (disk full, I/O error) the file is cut back to its last complete line. The first failure
  is recorded (``failures``), calls ``on_failure`` (the runner stops sending) and frees a
  reserve of ``RESERVE_BYTES`` set aside at ``open``, so summary.json and stats.json still
  fit on a disk the run filled. Nothing here raises ``OSError`` into the run.
- **Uploads are retried and verified** (see ``upload.py``); the staged copy is deleted once
  every file is on the store with its size, and kept and named when the upload fails.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, Iterable

import fsspec
import orjson
from fsspec.implementations.local import LocalFileSystem

from .clock import utc_now
from .errors import ConfigError
from .upload import UPLOAD_ORDER, publish

__all__ = ["RunFolder", "WriteFailure", "is_local", "join_url", "default_run_name", "UPLOAD_ORDER", "RESERVE_BYTES"]

log = logging.getLogger(__name__)

#: Files whose presence means a folder already holds a run.
RUN_FILES = ("run_config.json", "responses.jsonl", "summary.json", "stats.json")
#: Disk space set aside while a run writes, given back for summary.json and stats.json
#: (together a few KiB) when a write fails or the run ends.
RESERVE_BYTES = 64 << 10
RESERVE_NAME = ".llmeter-reserve"
_FLUSH_BYTES = 1 << 16  # responses.jsonl is written when this much is buffered (and every second)


def is_local(url: str) -> bool:
    fs, _ = fsspec.core.url_to_fs(url)
    return isinstance(fs, LocalFileSystem)


def join_url(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def default_run_name() -> str:
    """``YYYYMMDD-HHMMSS-ffffff-xxxx`` (UTC, microseconds, 4 random hex digits): sorts by start
    time, and two runs started in the same microsecond still get different folders."""
    return f"{utc_now():%Y%m%d-%H%M%S-%f}-{secrets.token_hex(2)}"


@dataclass(frozen=True)
class WriteFailure:
    """One failed write: which file, which error (``action`` says what was being done)."""

    path: str
    error: OSError
    action: str = ""

    def __str__(self) -> str:
        code = errno.errorcode.get(self.error.errno or 0)
        reason = self.error.strerror or str(self.error)
        return f"{self.action or 'writing ' + self.path} failed: {reason}" + (f" ({code})" if code else "")


def _open_binary(path: Path, mode: str) -> IO[bytes]:
    """``open`` for whole-file writes (``RunFolder._open_file``)."""
    return open(path, mode)  # the caller closes it


class RunFolder:
    """A run folder: local while the run writes, published to ``url`` at the end."""

    #: The two calls that put bytes on disk; a test swaps them for a full disk
    #: (tests/core/test_storage_disk_full.py).
    _write_fd = staticmethod(os.write)
    _open_file = staticmethod(_open_binary)  # tests put a full disk here

    def __init__(self, output_path: str, run_name: str, upload_attempts: int = 5, backoff_s: float = 1.0):
        root = str(output_path)
        if not root.strip():
            raise ConfigError(
                "output_path",
                "is empty: give a folder or a URL such as s3://bucket/prefix (leave it out to save nothing)",
            )
        self.url = join_url(root, run_name)
        try:
            self.fs, self.remote_path = fsspec.core.url_to_fs(self.url)
        except (ValueError, ImportError) as exc:  # unknown scheme, or its package is not installed
            raise ConfigError("output_path", f"cannot write to {root!r}: {exc}") from exc
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            self.path = Path(self.remote_path)
        else:
            staging_root = Path(
                os.environ.get("LLMETER_STAGING_DIR") or Path(tempfile.gettempdir()) / "llmeter-flows-staging"
            )
            self.path = staging_root / f"{run_name}-{os.getpid()}-{secrets.token_hex(4)}"
        _check_writable(self.path)
        self.upload_attempts = upload_attempts
        self.backoff_s = backoff_s
        #: Called once, on the first failed write (the runner stops sending).
        self.on_failure: Callable[[], None] | None = None
        self.failures: list[WriteFailure] = []
        #: Responses that could not be written to responses.jsonl (they stay in the stats).
        self.unwritten = 0
        self._fd: int | None = None
        self._size = 0  # bytes of complete lines in responses.jsonl
        self._pending = bytearray()
        self._claimed = False

    # -- before the run -------------------------------------------------------------------
    def claim(self) -> None:
        """Make this run the folder's only writer, before any request is sent."""
        if not self.local:
            self._check_remote_new()
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError("output_path", f"cannot create {self.path}: {_reason(exc)}") from exc
        try:
            fd = os.open(self.path / "run_config.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            raise self._taken() from None
        except OSError as exc:
            raise ConfigError("output_path", f"cannot write in {self.path}: {_reason(exc)}") from exc
        os.close(fd)
        if any((self.path / name).exists() for name in RUN_FILES[1:]):  # a run without run_config.json
            (self.path / "run_config.json").unlink()
            raise self._taken()
        self._claimed = True

    def _check_remote_new(self) -> None:
        try:
            names = {Path(p).name for p in self.fs.ls(self.remote_path, detail=False)}
        except FileNotFoundError:
            return
        except Exception as exc:  # unreachable store, no such bucket...: fail before sending load
            raise ConfigError("output_path", f"cannot reach {self.url}: {exc}") from exc
        if names & set(RUN_FILES):
            raise self._taken()

    def _taken(self) -> ConfigError:
        return ConfigError("run_name", f"{self.url} already holds a run; choose another run_name or output_path")

    def open(self) -> None:
        """Set the reserve aside and open responses.jsonl for appending."""
        try:
            _allocate(self.path / RESERVE_NAME, RESERVE_BYTES)
        except OSError as exc:
            self._fail(
                self.path / RESERVE_NAME,
                exc,
                action=f"setting aside {RESERVE_BYTES >> 10} KiB in {self.path} for stats.json",
            )
            return
        try:
            self._fd = os.open(self.path / "responses.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            self._size = os.fstat(self._fd).st_size
        except OSError as exc:
            self._fail(self.path / "responses.jsonl", exc)

    # -- writing ----------------------------------------------------------------------------
    @property
    def failure(self) -> WriteFailure | None:
        """The first failed write, if any."""
        return self.failures[0] if self.failures else None

    def write_json(self, name: str, data: Any) -> bool:
        body = orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY, default=str)
        return self._write_whole(name, (body,))

    def write_lines(self, name: str, lines: Iterable[bytes]) -> bool:
        return self._write_whole(name, (chunk for line in lines for chunk in (line, b"\n")))

    def _write_whole(self, name: str, chunks: Iterable[bytes]) -> bool:
        """Write a file under a temporary name and rename it: it is whole or absent."""
        final, temporary = self.path / name, self.path / f".{name}.tmp"
        try:
            with self._open_file(temporary, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
            os.replace(temporary, final)
            return True
        except OSError as exc:
            with contextlib.suppress(OSError):
                temporary.unlink()
            self._fail(final, exc)
            return False

    def append_response(self, line: bytes) -> None:
        """Buffer one responses.jsonl line (hot path: two appends and a length check)."""
        pending = self._pending
        pending += line
        pending += b"\n"
        if len(pending) >= _FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Write the buffered lines; on failure cut responses.jsonl back to its last whole line."""
        pending = self._pending
        if not pending:
            return
        self._pending = bytearray()
        if self._fd is None or self.failures:
            self.unwritten += pending.count(b"\n")
            return
        written = 0
        try:
            with memoryview(pending) as view:
                while written < len(pending):
                    written += self._write_fd(self._fd, view[written:])
        except OSError as exc:
            whole = pending.rfind(b"\n", 0, written) + 1  # complete lines that reached the file
            self._size += whole
            self.unwritten += pending.count(b"\n", whole)
            try:
                os.ftruncate(self._fd, self._size)
            except OSError as cut:
                log.error("could not cut the torn last line of %s: %s", self.path / "responses.jsonl", cut)
            self._fail(self.path / "responses.jsonl", exc)
        else:
            self._size += written

    def close(self) -> None:
        """Write what is buffered, close responses.jsonl and give the reserve back."""
        self.flush()
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError as exc:
                self._fail(self.path / "responses.jsonl", exc)
        self._release_reserve()

    def _fail(self, path: Path, exc: OSError, action: str = "") -> None:
        failure = WriteFailure(str(path), exc, action)
        self.failures.append(failure)
        if len(self.failures) > 1 or self.on_failure is None:
            log.error("%s", failure)
        else:
            log.error("%s; the run stops sending", failure)
        if len(self.failures) == 1:
            self._release_reserve()
            if self.on_failure is not None:
                self.on_failure()

    def _release_reserve(self) -> None:
        with contextlib.suppress(OSError):
            (self.path / RESERVE_NAME).unlink()

    # -- after the run ------------------------------------------------------------------------
    def save(self, summary: dict[str, Any], stats: dict[str, Any]) -> bool:
        """Close responses.jsonl, then write summary.json and stats.json (last: it marks the
        folder complete). If stats.json cannot be written, its content is logged instead."""
        self.close()
        self.write_json("summary.json", summary)
        if self.write_json("stats.json", stats):
            return True
        log.error(
            "stats.json could not be written; the stats of this run: %s",
            orjson.dumps(stats, option=orjson.OPT_SERIALIZE_NUMPY, default=str).decode(),
        )
        return False

    def failure_report(self, total_requests: int, stats_saved: bool) -> str:
        """What went wrong and what was kept, for ``WriteError``."""
        parts = [f"{self.failure}; {total_requests} requests were measured"]
        if stats_saved:
            parts.append("stats.json and summary.json hold every one of them")
        else:
            failed = next((f for f in self.failures if f.path.endswith("stats.json")), None)
            parts.append(
                f"stats.json could not be written either ({failed.error.strerror if failed else 'see above'}); "
                "its content is in the log above"
            )
        if self.unwritten:
            parts.append(f"{self.unwritten} of them could not be added to responses.jsonl")
        return "; ".join(parts)

    def discard(self) -> None:
        """Remove this run's files: the run failed before sending anything, so its name is freed."""
        self.close()
        if not self._claimed:
            return
        for name in (*UPLOAD_ORDER, RESERVE_NAME):
            with contextlib.suppress(OSError):
                (self.path / name).unlink()
        with contextlib.suppress(OSError):
            self.path.rmdir()

    async def publish(self, handle_signals: bool = True) -> str:
        """Upload a staged folder (no-op for a local one). Returns the folder's URL."""
        self.close()
        if self.local:
            return self.url
        return await publish(self, handle_signals)


def _check_writable(path: Path) -> None:
    """Refuse a folder that cannot be created or written, without creating anything."""
    probe = path
    while not os.path.lexists(probe) and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ConfigError("output_path", f"{probe} is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
        raise ConfigError("output_path", f"{probe} is {'on a read-only file system' if read_only else 'not writable'}")


def _allocate(path: Path, size: int) -> None:
    """Create a file that really holds ``size`` bytes of disk (fallocate, else zeros)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        try:
            os.posix_fallocate(fd, 0, size)
        except OSError as exc:
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                raise
            os.write(fd, bytes(size))
    except OSError:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc)
