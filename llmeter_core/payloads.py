"""Payload sources and the per-client order in which they are sent.

A source is a dict (one payload), a list of dicts, a ``.json`` file (a dict or a list), a
``.jsonl`` file (one dict a line), or a folder of such files (read in name order). Files and
folders are local paths or any fsspec URL (``s3://bucket/payloads/p1.jsonl``). Every
problem is reported with the file and, for jsonl, the line number, before any request is sent.

Each client walks the payloads in its own seeded shuffle (LLMeter sent every client the same
order, so concurrent requests were identical and prompt caches flattered the results).
"""

from __future__ import annotations

import itertools
import random
from pathlib import Path
from typing import Any, Iterator

import orjson

from .errors import PayloadError

__all__ = ["load_payloads", "client_order", "describe_source", "is_url", "read_url_bytes"]

PayloadSource = dict[str, Any] | list[dict[str, Any]] | str | Path


def load_payloads(source: PayloadSource) -> list[dict[str, Any]]:
    """Read a payload source into a non-empty list of dicts."""
    if isinstance(source, dict):
        payloads = [source]
    elif isinstance(source, (list, tuple)):
        payloads = list(source)
        for index, item in enumerate(payloads):
            if not isinstance(item, dict):
                raise PayloadError(f"payload[{index}]", f"expected a JSON object (dict), got {type(item).__name__}")
    elif isinstance(source, str) and is_url(source):
        payloads = _load_url(source)
    elif isinstance(source, (str, Path)):
        payloads = _load_path(Path(source))
    else:
        raise PayloadError("payload", f"expected a dict, a list of dicts or a path, got {type(source).__name__}")
    if not payloads:
        raise PayloadError(describe_source(source), "no payloads found")
    return payloads


def is_url(source: str) -> bool:
    """True for an fsspec URL (``s3://...``, ``file://...``) rather than a local path."""
    scheme, sep, _ = source.partition("://")
    return bool(sep) and scheme.isidentifier()


def read_url_bytes(url: str, what: str = "file") -> bytes:
    """The bytes of a file at any fsspec URL; a missing file or an unreachable store is a
    PayloadError naming the URL (before any request is sent)."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
        with fs.open(path, "rb") as handle:
            return handle.read()
    except FileNotFoundError:
        raise PayloadError(url, f"no such {what}") from None
    except (ImportError, ValueError) as exc:
        raise PayloadError(url, f"cannot read this URL: {exc}") from None
    except Exception as exc:  # network, credentials, permissions: the store's own message
        raise PayloadError(url, f"cannot be read: {type(exc).__name__}: {exc}") from None


def _load_url(url: str) -> list[dict[str, Any]]:
    """A payload file or folder at an fsspec URL (S3...), parsed as local files are."""
    import fsspec

    try:
        fs, path = fsspec.core.url_to_fs(url)
        is_dir = fs.isdir(path)
    except (ImportError, ValueError) as exc:
        raise PayloadError(url, f"cannot read this URL: {exc}") from None
    except Exception as exc:
        raise PayloadError(url, f"cannot be read: {type(exc).__name__}: {exc}") from None
    if is_dir:
        protocol = url.partition("://")[0]
        files = sorted(f for f in fs.ls(path, detail=False) if f.endswith((".json", ".jsonl")))
        if not files:
            raise PayloadError(url, "folder has no .json or .jsonl files")
        out: list[dict[str, Any]] = []
        for file in files:
            out.extend(_load_url(f"{protocol}://{file.split('://', 1)[-1]}"))
        return out
    if not url.endswith((".json", ".jsonl")):
        raise PayloadError(url, "payload files must end in .json or .jsonl")
    data = read_url_bytes(url, "file or folder")
    if url.endswith(".jsonl"):
        return _parse_jsonl(data.splitlines(), url)
    return _parse_json(data, url)


def _parse_json(data: bytes, name: str) -> list[dict[str, Any]]:
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(name, f"not valid JSON: {exc}") from None
    if isinstance(loaded, dict):
        return [loaded]
    if isinstance(loaded, list) and all(isinstance(item, dict) for item in loaded):
        return loaded
    raise PayloadError(name, "expected a JSON object or a list of objects")


def _parse_jsonl(lines: Any, name: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise PayloadError(name, f"not valid JSON: {exc}", line=number) from None
        if not isinstance(item, dict):
            raise PayloadError(name, f"expected a JSON object, got {type(item).__name__}", line=number)
        out.append(item)
    return out


def _load_path(path: Path) -> list[dict[str, Any]]:
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in (".json", ".jsonl") and p.is_file())
        if not files:
            raise PayloadError(str(path), "folder has no .json or .jsonl files")
        out: list[dict[str, Any]] = []
        for file in files:
            out.extend(_load_path(file))
        return out
    if not path.exists():
        raise PayloadError(str(path), "no such file or folder")
    if path.suffix == ".jsonl":
        return _load_jsonl(path)
    if path.suffix == ".json":
        return _parse_json(path.read_bytes(), str(path))
    raise PayloadError(str(path), "payload files must end in .json or .jsonl")


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open("rb") as handle:
        return _parse_jsonl(handle, str(path))


def client_order(payloads: list[dict[str, Any]], client: int, seed: int) -> Iterator[dict[str, Any]]:
    """Endless iterator over ``payloads`` in a shuffle of the client's own, reshuffled each pass."""
    if len(payloads) == 1:
        yield from itertools.repeat(payloads[0])
        return
    rng = random.Random(seed * 1_000_003 + client)
    order = list(range(len(payloads)))
    while True:
        rng.shuffle(order)
        for index in order:
            yield payloads[index]


def describe_source(source: PayloadSource) -> str:
    """How run_config.json names a payload source."""
    if isinstance(source, (str, Path)):
        return str(source)
    if isinstance(source, dict):
        return "inline: 1 payload"
    return f"inline: {len(source)} payloads"
