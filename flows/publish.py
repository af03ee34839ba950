"""A sweep's outputs: summary CSV + Parquet and chart PNGs beside the runs, and their artifacts.

``write_sweep_outputs`` is the I/O task, the only kind that retries (a retry rewrites the
same files; it never sends load). It runs its blocking work (S3 writes, matplotlib) in a
worker thread so a concurrent sweep's load loop on the same event loop is not stalled.
It also writes the shareable HTML report beside the summary (``report.html``, or
``<label>-report.html`` / ``comparison-report.html`` in a folder several sweeps share:
``llmeter_core.sweep_html``). ``publish_sweep`` adds the UI side: the flow run's one report
artifact (``report.py``: the HTML file, summary table with units, charts, a link to each run,
the files).
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import get_run_logger, task
from prefect.runtime import flow_run

from llmeter_core.html_report import report_name, write_report
from llmeter_core.sweep_html import sweep_page

from .charts import render_charts, write_charts
from .layout import join_url
from .report import publish_report, report_key, report_markdown
from .summary import TABLE_COLUMNS, summary_frame, table_records, write_summary

__all__ = ["write_sweep_outputs", "publish_sweep", "html_prefix"]


def _write_outputs(
    rows: list[dict[str, Any]],
    folder: str,
    basename: str,
    chart_prefix: str,
    series: str | None,
    columns: tuple[str, ...],
    title: str = "Sweep",
    flow: str = "load-test-sweep",
) -> dict[str, Any]:
    frame = summary_frame(rows)
    files = write_summary(frame, folder, basename)
    pngs = render_charts(frame, series=series) if len(frame) else {}
    chart_urls = write_charts(pngs, folder, prefix=chart_prefix) if pngs else {}
    listed = {"summary (CSV)": files["csv"], "summary (Parquet)": files["parquet"]}
    listed.update({f"chart {name} (PNG)": url for name, url in chart_urls.items()})
    try:
        document = sweep_page(title, flow, rows, columns, folder, series=series, files=listed)
    except Exception as exc:  # a view: a fault in it must not cost the summary its report artifact
        get_run_logger().warning("the HTML report of %s was not written: %r", title, exc)
        html_url = None
    else:  # a failed write raises: the task retries it with the other files
        html_url = write_report(document, join_url(folder, report_name(html_prefix(basename))))
    return {
        "csv": files["csv"],
        "parquet": files["parquet"],
        "html": html_url,
        "charts": chart_urls,
        "pngs": pngs,
        "table": table_records(frame, columns),
    }


def html_prefix(basename: str) -> str:
    """The HTML report's name prefix from the summary's basename: ``sweep-summary`` -> none
    (``report.html``), ``small-sweep-summary`` -> ``small``, ``comparison`` -> ``comparison``."""
    return basename.removesuffix("sweep-summary").strip("-")


@task(name="write-sweep-outputs", retries=3, retry_delay_seconds=[1, 4, 10])
async def write_sweep_outputs(
    rows: list[dict[str, Any]],
    folder: str,
    basename: str = "sweep-summary",
    chart_prefix: str = "",
    series: str | None = None,
    table_columns: tuple[str, ...] = TABLE_COLUMNS,
    title: str = "Sweep",
    flow: str = "load-test-sweep",
) -> dict[str, Any]:
    """Write ``<folder>/<basename>.{csv,parquet}``, ``<folder>/charts/<prefix>*.png`` and the
    HTML report; return their URLs, the PNG bytes and the table artifact rows."""
    return await asyncio.to_thread(
        _write_outputs, rows, folder, basename, chart_prefix, series, tuple(table_columns), title, flow
    )


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
    run's Artifacts tab. Returns the file URLs (``csv``, ``parquet``, ``html``, ``charts``) and the
    table rows (stats.json keys and units, for the command's own table)."""
    flow = f"{flow_run.flow_name} ({flow_run.name})" if flow_run.flow_name else "load-test-sweep"
    out = await write_sweep_outputs(rows, folder, basename, chart_prefix, series, table_columns, title, flow)
    files = {"summary (CSV)": out["csv"], "summary (Parquet)": out["parquet"]}
    await publish_report(
        report_markdown(title, rows, table_columns, out["pngs"], files, out["charts"], html_url=out["html"]),
        key=report_key(key_prefix),
        description=f"{title}: summary table, charts and runs (full columns in {out['csv']})",
    )
    return {
        "folder": folder,
        "csv": out["csv"],
        "parquet": out["parquet"],
        "html": out["html"],
        "charts": out["charts"],
        "table": out["table"],
    }
