"""Payload sources and the per-client order in which they are sent.

A source is a dict (one payload), a list of dicts, a ``.json`` file (a dict or a list), a
``.jsonl`` file (one dict a line), or a folder of such files (read in name order). Every
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

__all__ = ["load_payloads", "client_order", "describe_source"]

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
    elif isinstance(source, (str, Path)):
        payloads = _load_path(Path(source))
    else:
        raise PayloadError("payload", f"expected a dict, a list of dicts or a path, got {type(source).__name__}")
    if not payloads:
        raise PayloadError(describe_source(source), "no payloads found")
    return payloads


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
        try:
            data = orjson.loads(path.read_bytes())
        except orjson.JSONDecodeError as exc:
            raise PayloadError(str(path), f"not valid JSON: {exc}") from None
        if isinstance(data, dict):
            return [data]
        if isinstance(data, list) and all(isinstance(item, dict) for item in data):
            return data
        raise PayloadError(str(path), "expected a JSON object or a list of objects")
    raise PayloadError(str(path), "payload files must end in .json or .jsonl")


def _load_jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise PayloadError(str(path), f"not valid JSON: {exc}", line=number) from None
            if not isinstance(item, dict):
                raise PayloadError(str(path), f"expected a JSON object, got {type(item).__name__}", line=number)
            out.append(item)
    return out


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
