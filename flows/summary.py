"""The sweep summary: one row per run, written as CSV and Parquet beside the runs.

A row is built from the small summary ``run_load_test`` returns (never from responses), so
the sweep summary costs nothing however long the runs were. Columns: the run's identity
(``endpoint``, ``model_id``, ``clients``, ``run_name``, ``run_url``, ``interrupted``) followed
by every scalar stats.json key, under its stats.json name so the two can be joined. The
``errors`` dict (count by error type) becomes a JSON string column.
"""

from __future__ import annotations

import io
import json
from typing import Any, Iterable

import fsspec
import pandas as pd

from .layout import join_url

__all__ = [
    "IDENTITY_COLUMNS",
    "TABLE_COLUMNS",
    "summary_row",
    "summary_frame",
    "write_summary",
    "table_records",
]

IDENTITY_COLUMNS: tuple[str, ...] = (
    "endpoint",
    "model_id",
    "clients",
    "rate",
    "run_name",
    "interrupted",
    "total_requests",
    "run_url",
)

#: What the sweep table artifact shows (the CSV and Parquet keep every column); columns a
#: sweep does not have (``cost_*`` without ``pricing``) are left out.
TABLE_COLUMNS: tuple[str, ...] = (
    "endpoint",
    "clients",
    "rate",
    "achieved_rate",
    "total_requests",
    "failed_requests",
    "completed_requests_per_second",
    "requests_per_minute",
    "output_tps",
    "time_to_first_token-p50",
    "time_to_first_token-p90",
    "time_to_first_token-p99",
    "time_to_last_token-p50",
    "time_to_last_token-p90",
    "time_to_last_token-p99",
    "cost_total",
    "cost_per_1m_output_tokens",
    "slo_attainment",
    "goodput",
    "slo_passed",
    "client_bound",
    "interrupted",
    "run_url",
)


def summary_row(summary: dict[str, Any], endpoint: str | None = None) -> dict[str, Any]:
    """Flatten one ``run_load_test`` summary into a sweep-summary row."""
    stats = dict(summary.get("stats") or {})
    row: dict[str, Any] = {
        "endpoint": endpoint or summary.get("endpoint") or summary.get("model_id"),
        "model_id": summary.get("model_id"),
        "clients": summary.get("clients"),
        "rate": summary.get("rate"),
        "run_name": summary.get("run_name"),
        "interrupted": bool(summary.get("interrupted", False)),
        "total_requests": summary.get("total_requests", stats.get("total_requests")),
        "run_url": summary.get("run_url"),
    }
    for key, value in stats.items():
        if key in row:
            continue
        if isinstance(value, dict):
            row[key] = json.dumps(value, sort_keys=True)
        elif value is None or isinstance(value, (bool, int, float, str)):
            row[key] = value
    return row


def summary_frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Rows as a DataFrame with the identity columns first and the stats as numbers."""
    frame = pd.DataFrame(list(rows))
    if frame.empty:
        return pd.DataFrame(columns=list(IDENTITY_COLUMNS))
    first = [c for c in IDENTITY_COLUMNS if c in frame.columns]
    rest = [c for c in frame.columns if c not in first]
    frame = frame[first + rest]
    for column in rest:
        if column == "errors":
            continue
        numeric = pd.to_numeric(frame[column], errors="coerce")
        # Keep a column numeric when every non-missing value parsed: counts stay integers,
        # a column with gaps (no latency without a success) becomes float with NaN.
        if numeric.notna().sum() == frame[column].notna().sum():
            frame[column] = numeric
    return frame


def write_summary(frame: pd.DataFrame, folder: str, basename: str = "sweep-summary") -> dict[str, str]:
    """Write ``<folder>/<basename>.csv`` and ``.parquet`` (pyarrow) through fsspec.

    Returns the two URLs. Both are rendered in memory first, then written in one put each,
    so a reader never sees half a file on S3 (which has no append).
    """
    csv_url = join_url(folder, f"{basename}.csv")
    parquet_url = join_url(folder, f"{basename}.parquet")
    csv_bytes = frame.to_csv(index=False).encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer, engine="pyarrow", index=False)
    for url, data in ((csv_url, csv_bytes), (parquet_url, buffer.getvalue())):
        fs, path = fsspec.core.url_to_fs(url)
        parent = path.rsplit("/", 1)[0]
        if parent:
            fs.makedirs(parent, exist_ok=True)
        with fs.open(path, "wb") as handle:
            handle.write(data)
    return {"csv": csv_url, "parquet": parquet_url}


def table_records(frame: pd.DataFrame, columns: Iterable[str] = TABLE_COLUMNS, digits: int = 4) -> list[dict[str, Any]]:
    """Rows for a Prefect table artifact: chosen columns, plain Python values, rounded floats.

    Prefect serialises tables as JSON: numpy scalars are rejected and NaN is not JSON, so
    missing values become ``None``.
    """
    present = [c for c in columns if c in frame.columns]
    records: list[dict[str, Any]] = []
    for raw in frame[present].to_dict("records"):
        record: dict[str, Any] = {}
        for key, value in raw.items():
            record[key] = _plain(value, digits)
        records.append(record)
    return records


def _plain(value: Any, digits: int) -> Any:
    if value is None:
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    if isinstance(value, float):
        if value != value:  # NaN
            return None
        return round(value, digits)
    return value
