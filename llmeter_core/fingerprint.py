"""What a run measured, as a comparable fingerprint, and its ``config_hash``.

Two runs are comparable when they measured the same thing: the same endpoint settings, the
same payloads, the same load. The fingerprint is built from a run folder's
``run_config.json`` (which never holds secrets) and the *content* of its ``payload.jsonl``,
so ``compare`` can check any two folders without the history, and a history row's
``config_hash`` is the same value.

Left out, because they do not change what is measured:

- ``run_name``, ``run_description``, ``output_path`` (where and under which name),
- ``live_interval``, ``low_memory`` (how the run is watched and stored),
- ``seed`` (it only reorders the same payloads per client),
- ``payload`` (a description that names a local path) and ``payload_count``: the payloads
  are compared by content instead (``payloads.sha256``, ``payloads.count``),
- ``endpoint.api_key_env`` (where the key comes from, not what is measured).

A ``base_url`` / ``endpoint_url`` on the loopback interface keeps its scheme, host and path
but not its port: local servers (the emulator a nightly starts for itself, a test server)
are started on a free port each time, and the port says nothing about what is served.

Every other key of ``run_config.json`` counts, including keys added later (an arrival rate,
an SLO): a new setting changes the hash rather than being silently ignored.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import fsspec
import orjson

__all__ = ["EXCLUDED_KEYS", "fingerprint", "config_hash", "read_fingerprint", "differences"]

EXCLUDED_KEYS: frozenset[str] = frozenset(
    {"run_name", "run_description", "output_path", "live_interval", "low_memory", "seed", "payload", "payload_count"}
)
_EXCLUDED_ENDPOINT_KEYS: frozenset[str] = frozenset({"api_key_env"})
_URL_KEYS: frozenset[str] = frozenset({"base_url", "endpoint_url"})
_LOOPBACK_HOSTS: frozenset[str] = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _portless_loopback(url: Any) -> Any:
    if not isinstance(url, str):
        return url
    parts = urlsplit(url)
    if parts.hostname not in _LOOPBACK_HOSTS or parts.port is None:
        return url.rstrip("/")
    host = "[::1]" if parts.hostname == "::1" else parts.hostname
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)).rstrip("/")


def _payload_digest(lines: list[bytes]) -> dict[str, Any]:
    """sha256 over the payloads with their keys sorted, so key order does not matter."""
    digest = hashlib.sha256()
    count = 0
    for line in lines:
        if not line.strip():
            continue
        try:
            canonical = orjson.dumps(orjson.loads(line), option=orjson.OPT_SORT_KEYS)
        except orjson.JSONDecodeError:
            canonical = line.strip()
        digest.update(canonical + b"\n")
        count += 1
    return {"sha256": digest.hexdigest(), "count": count}


def fingerprint(run_config: dict[str, Any], payload_lines: list[bytes] | None) -> dict[str, Any]:
    """The settings of a run that change what it measures (see the module docstring)."""
    out: dict[str, Any] = {}
    for key, value in run_config.items():
        if key in EXCLUDED_KEYS:
            continue
        if key == "endpoint" and isinstance(value, dict):
            value = {
                k: (_portless_loopback(v) if k in _URL_KEYS else v)
                for k, v in value.items()
                if k not in _EXCLUDED_ENDPOINT_KEYS
            }
        out[key] = value
    out["payloads"] = _payload_digest(payload_lines) if payload_lines is not None else None
    return out


def config_hash(fp: dict[str, Any]) -> str:
    """A short stable hash of a fingerprint (16 hex digits of sha256 over sorted-key JSON)."""
    return hashlib.sha256(orjson.dumps(fp, option=orjson.OPT_SORT_KEYS, default=str)).hexdigest()[:16]


def read_fingerprint(run_url: str) -> dict[str, Any] | None:
    """The fingerprint of a run folder, or None when it has no ``run_config.json``."""
    fs, root = fsspec.core.url_to_fs(run_url)
    config_path = f"{root.rstrip('/')}/run_config.json"
    if not fs.exists(config_path):
        return None
    run_config = orjson.loads(fs.cat_file(config_path))
    payload_path = f"{root.rstrip('/')}/payload.jsonl"
    lines = fs.cat_file(payload_path).splitlines() if fs.exists(payload_path) else None
    return fingerprint(run_config, lines)


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(baseline: dict[str, Any] | None, candidate: dict[str, Any] | None) -> list[dict[str, Any]]:
    """Every dotted setting whose value differs: ``[{"field", "baseline", "candidate"}]``."""
    left, right = _flatten(baseline or {}), _flatten(candidate or {})
    out = []
    for key in sorted(set(left) | set(right)):
        if left.get(key, _MISSING) != right.get(key, _MISSING):
            out.append({"field": key, "baseline": left.get(key), "candidate": right.get(key)})
    return out


_MISSING = object()
