"""The history dataset: one Parquet row per run at ``<root>/<suite>/history/``.

Every run a flow makes (sweep, model sweep, nightly) and every ``llmeter-flows run`` adds a
row. The dataset is append-only: each run writes its own file, named uniquely
(``<start time>_<endpoint>_<load point>_<random>.parquet``), and nothing ever reads,
modifies and rewrites a file, so runs finishing at the same moment cannot lose each
other's rows (S3 has no append and no lock). A local file is written under a hidden temporary
name and renamed into place; an S3 object appears whole with its single PUT. Readers skip
hidden and ``_``-prefixed files, as pyarrow does.

All files share one schema (``SCHEMA``) so ``pandas.read_parquet("<root>/<suite>/history")``
and ``pyarrow.dataset`` read the folder directly. Stats keys outside the schema (goodput,
capacity, keys contributed by callbacks) are kept in the ``extra_stats`` JSON column and
expanded into columns by ``read_history``.
"""

from __future__ import annotations

import logging
import os
import uuid
from datetime import datetime, timezone
from typing import Any

import fsspec
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

from .clock import parse_time
from .errors import ConfigError
from .fingerprint import config_hash, read_fingerprint
from .samples import load_point
from .stats import AGGREGATES, METRICS
from .storage import join_url

__all__ = [
    "HISTORY_DIR",
    "SCHEMA",
    "KEY_STATS",
    "history_url",
    "history_row",
    "append_row",
    "record_run",
    "read_history",
    "history_folders",
]

log = logging.getLogger(__name__)

HISTORY_DIR = "history"

#: The stats every row carries as columns (seconds, requests/min, tokens/s).
KEY_STATS: tuple[str, ...] = tuple(
    f"{m}-{agg}"
    for m in ("time_to_first_token", "time_to_last_token", "time_per_output_token")
    for agg in ("average", "p50", "p90", "p99")
) + ("requests_per_minute", "output_tps", "average_output_tokens_per_minute")

_UTC = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema(
    [
        ("suite", pa.string()),
        ("endpoint", pa.string()),
        ("model_id", pa.string()),
        ("endpoint_type", pa.string()),
        ("clients", pa.int64()),
        ("rate", pa.float64()),
        ("n_requests", pa.int64()),
        ("run_duration", pa.float64()),
        ("start_time", _UTC),
        ("end_time", _UTC),
        ("run_name", pa.string()),
        ("run_url", pa.string()),
        ("config_hash", pa.string()),
        ("interrupted", pa.bool_()),
        ("total_requests", pa.int64()),
        ("failed_requests", pa.int64()),
        ("failed_requests_rate", pa.float64()),
        ("incomplete_requests", pa.int64()),
        ("errors", pa.string()),
        ("total_output_tokens", pa.int64()),
    ]
    + [(key, pa.float64()) for key in KEY_STATS]
    + [("extra_stats", pa.string()), ("flow_run_id", pa.string()), ("recorded_at", _UTC)]
)
_COLUMNS = frozenset(SCHEMA.names)
_STANDARD = frozenset(f"{m}-{agg}" for m in METRICS for agg in AGGREGATES) | frozenset(
    {"total_test_time", "total_input_tokens", "total_cached_input_tokens", "average_input_tokens_per_minute"}
)


def history_url(root: str, suite: str | None = None) -> str:
    """``<root>/<suite>/history`` (or ``<root>/history`` for runs outside a suite)."""
    return join_url(root, suite, HISTORY_DIR) if suite else join_url(root, HISTORY_DIR)


def _read_json(fs: Any, path: str) -> dict[str, Any]:
    try:
        return orjson.loads(fs.cat_file(path)) if fs.exists(path) else {}
    except orjson.JSONDecodeError:
        return {}


def _int(value: Any) -> int | None:
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def history_row(
    run_url: str, suite: str, endpoint: str | None = None, flow_run_id: str | None = None
) -> dict[str, Any]:
    """The history row of a finished run folder (local or any fsspec URL).

    ``endpoint`` is the label the flows use (default: the endpoint name, else the model).
    A folder without ``stats.json`` (a crash before the end) is summarised from its
    ``responses.jsonl``.
    """
    fs, root = fsspec.core.url_to_fs(run_url)
    root = root.rstrip("/")
    stats = _read_json(fs, f"{root}/stats.json")
    if not stats:
        from .samples import RunSamples

        samples = RunSamples.load(run_url)
        stats = {**_read_json(fs, f"{root}/summary.json"), **samples.stats}
    run_config = _read_json(fs, f"{root}/run_config.json")
    endpoint_config = run_config.get("endpoint") or {}
    clients, rate = load_point(run_config, stats)
    fp = read_fingerprint(run_url)
    extra = {
        k: v
        for k, v in stats.items()
        if k not in _COLUMNS and k not in _STANDARD and isinstance(v, (int, float)) and not isinstance(v, bool)
    }
    row: dict[str, Any] = {
        "suite": suite,
        "endpoint": endpoint or stats.get("endpoint_name") or stats.get("model_id"),
        "model_id": stats.get("model_id") or endpoint_config.get("model_id"),
        "endpoint_type": endpoint_config.get("type"),
        "clients": clients,
        "rate": rate,
        "n_requests": _int(stats.get("n_requests")),
        "run_duration": _float(stats.get("run_duration")),
        "start_time": parse_time(stats.get("start_time")),
        "end_time": parse_time(stats.get("end_time")),
        "run_name": stats.get("run_name"),
        "run_url": run_url.rstrip("/"),
        "config_hash": config_hash(fp) if fp is not None else None,
        "interrupted": bool(stats.get("interrupted", False)),
        "total_requests": _int(stats.get("total_requests")),
        "failed_requests": _int(stats.get("failed_requests")),
        "failed_requests_rate": _float(stats.get("failed_requests_rate")),
        "incomplete_requests": _int(stats.get("incomplete_requests")),
        "errors": orjson.dumps(stats.get("errors") or {}, option=orjson.OPT_SORT_KEYS).decode(),
        "total_output_tokens": _int(stats.get("total_output_tokens")),
        "extra_stats": orjson.dumps(extra, option=orjson.OPT_SORT_KEYS).decode(),
        "flow_run_id": flow_run_id,
        "recorded_at": datetime.now(timezone.utc),
    }
    for key in KEY_STATS:
        row[key] = _float(stats.get(key))
    return row


def _file_name(row: dict[str, Any]) -> str:
    started = row.get("start_time") or row.get("recorded_at") or datetime.now(timezone.utc)
    point = f"r{row['rate']:g}" if row.get("rate") is not None else f"c{row.get('clients') or 0}"
    label = "".join(ch if ch.isalnum() or ch in "-." else "-" for ch in str(row.get("endpoint") or "run"))[:60]
    return f"{started.astimezone(timezone.utc):%Y%m%dT%H%M%S%fZ}_{label}_{point}_{uuid.uuid4().hex[:12]}.parquet"


def append_row(history: str, row: dict[str, Any]) -> str:
    """Write ``row`` as a new file of the history folder ``history``; returns its URL."""
    table = pa.Table.from_pylist([{name: row.get(name) for name in SCHEMA.names}], schema=SCHEMA)
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    data = sink.getvalue().to_pybytes()
    url = join_url(history, _file_name(row))
    fs, path = fsspec.core.url_to_fs(url)
    if isinstance(fs, LocalFileSystem):
        folder, name = os.path.split(path)
        os.makedirs(folder, exist_ok=True)
        temporary = os.path.join(folder, f".{name}.tmp")
        with open(temporary, "wb") as handle:
            handle.write(data)
        os.replace(temporary, path)
    else:
        fs.pipe_file(path, data)
    return url


def record_run(run_url: str, root: str) -> str:
    """The row of a run made outside a suite (``llmeter-flows run``): ``<root>/history``,
    with the root folder's name as the suite."""
    if "://" not in root:  # rows keep absolute paths: they are read from anywhere
        root, run_url = os.path.abspath(root), os.path.abspath(run_url)
    suite = root.rstrip("/").rsplit("/", 1)[-1] or "runs"
    return append_row(history_url(root), history_row(run_url, suite))


def history_folders(url: str) -> list[str]:
    """The history folders a user can mean by ``url``: a history folder itself, a suite
    folder (``<root>/<suite>``), or a results root (every suite under it)."""
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")
    base = url.rstrip("/")
    if root.rsplit("/", 1)[-1] == HISTORY_DIR:
        return [base]
    fs.invalidate_cache(root)  # listings are cached per process; other runs write here too
    if not fs.isdir(root):
        raise ConfigError("history", f"{url}: no such folder")
    if fs.glob(f"{root}/*.parquet"):
        return [base]
    found = [history_url(base)] if fs.isdir(f"{root}/{HISTORY_DIR}") else []
    found += [
        f"{base}/{p.rstrip('/').rsplit('/', 2)[-2]}/{HISTORY_DIR}" for p in sorted(fs.glob(f"{root}/*/{HISTORY_DIR}"))
    ]
    return found


def _files(fs: Any, root: str) -> list[str]:
    fs.invalidate_cache(root)
    names = fs.glob(f"{root.rstrip('/')}/*.parquet") if fs.isdir(root) else []
    return sorted(p for p in names if not p.rsplit("/", 1)[-1].startswith((".", "_")))


def _read_files(fs: Any, paths: list[str]) -> pa.Table:
    tables = []
    for path in paths:
        try:
            with fs.open(path, "rb") as handle:
                tables.append(pq.read_table(handle, schema=SCHEMA))
        except Exception as exc:  # a damaged file: keep every intact row
            log.warning("history: skipping unreadable %s: %s", path, exc)
    return pa.concat_tables(tables) if tables else SCHEMA.empty_table()


def read_history(
    url: str,
    endpoint: str | None = None,
    since: datetime | None = None,
    config_hash: str | None = None,
) -> pd.DataFrame:
    """Every row under ``url`` (see ``history_folders``), oldest first, filtered.

    ``since`` keeps runs that started at or after it. A run written twice (a retried
    write) appears once. Stats in ``extra_stats`` become columns. An empty frame (with the
    schema's columns) when nothing matches.
    """
    fs, _ = fsspec.core.url_to_fs(url)
    paths: list[str] = []
    for folder in history_folders(url):
        paths += _files(fs, fsspec.core.url_to_fs(folder)[1])
    frame = _read_files(fs, paths).to_pandas()
    if endpoint is not None:
        frame = frame[frame["endpoint"] == endpoint]
    if since is not None:
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)
        frame = frame[frame["start_time"] >= pd.Timestamp(since)]
    if config_hash is not None:
        frame = frame[frame["config_hash"] == config_hash]
    # A retried write may have left a run twice: keep its latest row.
    frame = frame.sort_values("recorded_at", kind="stable").drop_duplicates("run_url", keep="last")
    frame = frame.sort_values("start_time", kind="stable").reset_index(drop=True)
    extras = [orjson.loads(text) if isinstance(text, str) and text else {} for text in frame["extra_stats"]]
    for key in sorted({k for e in extras for k in e}):
        frame[key] = [e.get(key) for e in extras]
    return frame
