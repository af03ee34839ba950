"""A sweep's (or model comparison's) HTML report page, and the summary table both reports show.

``summary_cells`` is the one home of how a summary row reads (headers with units from
``units``, values in display units and formatted): the report artifact's markdown table
(``flows/report.py``) and the HTML table are built from it, so they show the same numbers.
``sweep_page`` lays out the file: facts, summary table, interactive charts, each run's
folder (relative links), the files beside it and every run's run_config.json.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from . import html_report as h
from .html_charts import sweep_figures
from .sweep_charts import CHARTS
from .units import display_header, display_value

__all__ = ["PLAIN_COLUMNS", "format_cell", "summary_cells", "sweep_page"]

#: Columns that are not stats keys: shown under their own name, values as they are.
PLAIN_COLUMNS = frozenset({"endpoint", "model_id", "clients", "interrupted", "client_bound", "run_name"})


def format_cell(value: Any) -> str:
    """A table cell: thousands separators from 100 on, short floats as they are, blank for None."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 100 else f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def summary_cells(rows: Sequence[Mapping[str, Any]], columns: Iterable[str]) -> tuple[list[str], list[list[str]]]:
    """Headers (``TTFT p50 (ms)``...) and formatted cells of summary rows; columns no row has,
    and ``run_url`` (a run is linked in its own list), are left out."""
    present = [c for c in columns if c != "run_url" and any(r.get(c) is not None for r in rows)]
    headers = [c if c in PLAIN_COLUMNS else display_header(c) for c in present]
    cells = [
        [format_cell(row.get(c) if c in PLAIN_COLUMNS else display_value(c, row.get(c))) for c in present]
        for row in rows
    ]
    return headers, cells


def _run_label(row: Mapping[str, Any]) -> str:
    name = row.get("run_name") or "run"
    return f"{row['endpoint']} / {name}" if row.get("endpoint") else str(name)


def sweep_page(
    title: str,
    flow: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Iterable[str],
    folder: str,
    series: str | None = None,
    files: Mapping[str, str] | None = None,
) -> str:
    """The whole HTML document of a sweep whose report file sits in ``folder``."""
    headers, cells = summary_cells(rows, columns)
    endpoints = dict.fromkeys(
        f"{r['endpoint']} ({r['model_id']})" if r.get("model_id") and r["model_id"] != r["endpoint"] else r["endpoint"]
        for r in rows
        if r.get("endpoint")
    )
    facts = [
        ("flow", flow),
        ("endpoints" if len(endpoints) > 1 else "endpoint", ", ".join(endpoints) or "-"),
        ("runs", len(rows)),
        ("results", folder),
    ]
    summary = (
        h.table(headers, cells, text_columns=[i for i, c in enumerate(headers) if c in ("endpoint", "model_id")])
        if rows
        else h.paragraph("No run finished.")
    )
    units = h.paragraph(
        "Latencies in ms, throughput (completed requests) in req/s, requests sent in req/min, tokens in tok/s, "
        "failures in %. Hover a chart for its values; click a legend entry to hide a line.",
        "note",
    )
    figures = sweep_figures(pd.DataFrame(list(rows)), series=series) if rows else {}
    titles = {c.name: c.title for c in CHARTS}
    charts = [h.chart(fig, f"chart-{name}") for name, fig in figures.items() if name in titles]
    runs = [(_run_label(r), r.get("run_url")) for r in rows]
    sections = [
        h.section("Summary", units, summary),
        h.section("Charts", *charts) if charts else "",
        h.section("Runs", h.run_list(runs, folder)),
    ]
    if files:
        listed = "".join(f"<li>{h.link(url, folder, what)}</li>" for what, url in files.items())
        sections.append(h.section("Files", f"<ul>{listed}</ul>"))
    sections.append(h.section("Run configuration", h.configs(h.read_run_configs(runs))))
    return h.page(title, facts, sections)
