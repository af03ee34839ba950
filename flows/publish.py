"""A sweep's outputs: summary CSV + Parquet and chart PNGs beside the runs, and their artifacts.

``write_sweep_outputs`` is the I/O task, the only kind that retries (a retry rewrites the
same files; it never sends load). It runs its blocking work (S3 writes, matplotlib) in a
worker thread so a concurrent sweep's load loop on the same event loop is not stalled.
``publish_sweep`` adds the UI side: the flow run's one report artifact (``report.py``:
summary table with units, charts, a link to each run, the files).
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import task

from .charts import render_charts, write_charts
from .report import publish_report, report_key, report_markdown
from .summary import TABLE_COLUMNS, summary_frame, table_records, write_summary

__all__ = ["write_sweep_outputs", "publish_sweep"]


def _write_outputs(
    rows: list[dict[str, Any]],
    folder: str,
    basename: str,
    chart_prefix: str,
    series: str | None,
    columns: tuple[str, ...],
) -> dict[str, Any]:
    frame = summary_frame(rows)
    files = write_summary(frame, folder, basename)
    pngs = render_charts(frame, series=series) if len(frame) else {}
    chart_urls = write_charts(pngs, folder, prefix=chart_prefix) if pngs else {}
    return {
        "csv": files["csv"],
        "parquet": files["parquet"],
        "charts": chart_urls,
        "pngs": pngs,
        "table": table_records(frame, columns),
    }


@task(name="write-sweep-outputs", retries=3, retry_delay_seconds=[1, 4, 10])
async def write_sweep_outputs(
    rows: list[dict[str, Any]],
    folder: str,
    basename: str = "sweep-summary",
    chart_prefix: str = "",
    series: str | None = None,
    table_columns: tuple[str, ...] = TABLE_COLUMNS,
) -> dict[str, Any]:
    """Write ``<folder>/<basename>.{csv,parquet}`` and ``<folder>/charts/<prefix>*.png``;
    return their URLs, the PNG bytes and the table artifact rows."""
    return await asyncio.to_thread(_write_outputs, rows, folder, basename, chart_prefix, series, tuple(table_columns))


async def publish_sweep(
    rows: list[dict[str, Any]],
    folder: str,
    key_prefix: str,
    title: str,
    basename: str = "sweep-summary",
    chart_prefix: str = "",
    series: str | None = None,
    table_columns: tuple[str, ...] = TABLE_COLUMNS,
) -> dict[str, Any]:
    """Write the sweep files, then the ``<key_prefix>-report`` artifact, first on the flow
    run's Artifacts tab. Returns the file URLs (``csv``, ``parquet``, ``charts``) and the
    table rows (stats.json keys and units, for the command's own table)."""
    out = await write_sweep_outputs(rows, folder, basename, chart_prefix, series, table_columns)
    files = {"summary (CSV)": out["csv"], "summary (Parquet)": out["parquet"]}
    await publish_report(
        report_markdown(title, rows, table_columns, out["pngs"], files, out["charts"]),
        key=report_key(key_prefix),
        description=f"{title}: summary table, charts and runs (full columns in {out['csv']})",
    )
    return {
        "folder": folder,
        "csv": out["csv"],
        "parquet": out["parquet"],
        "charts": out["charts"],
        "table": out["table"],
    }
