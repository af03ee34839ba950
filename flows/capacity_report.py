"""The capacity search's report: one markdown document, verdict first, and its HTML file.

``capacity_markdown`` builds the markdown (pure: tests read it as text) and
``publish_capacity_report`` publishes it as the flow run's one report artifact, first on its
Artifacts tab (``report.publish_report``, as every flow's report). ``capacity_page`` is the
same report as one self-contained HTML file (``capacity-report.html`` in the search folder:
``llmeter_core.html_report``), with interactive charts and each probe's run_config.json.
"""

from __future__ import annotations

import base64
import html
from typing import Any

from llmeter_core import html_report as h
from llmeter_core.capacity_charts import CAPACITY_CHART_TITLES
from llmeter_core.html_charts import capacity_figures
from llmeter_core.units import display_text, with_unit
from tasks.links import markdown_link

from .layout import slug
from .report import html_line, publish_report

__all__ = [
    "capacity_markdown",
    "capacity_page",
    "publish_capacity_report",
    "verdict_line",
    "probe_rows",
    "REPORT_PREFIX",
]

#: The HTML report's name prefix: ``capacity-report.html``.
REPORT_PREFIX = "capacity"


def verdict_line(search: dict[str, Any]) -> str:
    """``emulator-model: capacity 40 req/s (bracket [40, 43.6]) at ttft p90 <= 150 ms, errors <= 1%
    (found: bracket within 10%)``."""
    s = search
    return f"{s['endpoint']}: capacity {s['answer']} at {s['slo_text']} ({s['status']}: {s['reason']})"


def _num(value: Any, spec: str = ",.1f") -> str:
    return format(value, spec) if isinstance(value, (int, float)) and not isinstance(value, bool) else "-"


def probe_rows(search: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per probe, in the order run (for the CLI table and the markdown table)."""
    limits = [k for k, v in (search.get("slo") or {}).items() if k.endswith("_ms") and v is not None]
    rows = []
    for i, p in enumerate(search["probes"], start=1):
        row = {"probe": i, "load": _num(p["load"], "g")}
        for label, key, value in (  # the display units of units.py, the unit in the header
            ("offered", "offered_rate", p.get("offered_rate")),
            ("achieved", "achieved_rate", p.get("achieved_rate")),
            ("attainment", "slo_attainment", p.get("attainment")),
            ("goodput", "goodput", p.get("goodput")),
        ):
            row[with_unit(label, key)] = display_text(key, value, missing="-", digits=1)
        for name in limits:
            row[f"{name.removesuffix('_ms')} (ms)"] = _num(p["metrics"].get(f"slo_observed_{name}"), ",.0f")
        row["passed"] = "yes" if p["passed"] else "NO"
        row["reason"] = p.get("reason") or ""
        row["run folder"] = p.get("run_folder") or ""
        rows.append(row)
    return rows


def _comparison_rows(searches: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "endpoint": s["endpoint"],
            "capacity": s["answer"],
            "highest pass": _num(s["bracket"]["highest_pass"], "g"),
            "lowest fail": _num(s["bracket"]["lowest_fail"], "g"),
            "status": s["status"],
            "probes": len(s["probes"]),
        }
        for s in searches
    ]


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no probes)"]
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]).replace("|", "/") for c in columns) + " |")
    return lines


def capacity_markdown(
    title: str, searches: list[dict[str, Any]], pngs: dict[str, dict[str, bytes]], html_url: str | None = None
) -> str:
    """The report: the HTML file (``html_url``), every endpoint's verdict line, a comparison
    table when there are several, then per endpoint its probe table and charts (inline PNGs)."""
    lines = [f"# {title}", ""]
    if html_url:
        lines += [html_line(html_url), ""]
    lines += [f"**{verdict_line(s)}**" + "  " for s in searches] + [""]
    if len(searches) > 1:
        lines += ["## Comparison", ""]
        lines += _table(_comparison_rows(searches))
        lines.append("")
    for s in searches:
        lines += [f"## {s['endpoint']}", "", f"SLO: {s['slo_text']}; capacity.json: `{s['capacity_json']}`", ""]
        rows = [{**r, "run folder": markdown_link(r["run folder"]) if r["run folder"] else ""} for r in probe_rows(s)]
        lines += _table(rows) + [""]  # a run folder on s3 as a console link, a local one as text
        for name, data in pngs.get(s["endpoint"], {}).items():
            heading = CAPACITY_CHART_TITLES.get(name, name)
            encoded = base64.b64encode(data).decode()
            lines += [f"### {heading}", "", f"![{heading}](data:image/png;base64,{encoded})", ""]
    return "\n".join(lines)


def _html_table(rows: list[dict[str, Any]], folder: str) -> str:
    if not rows:
        return h.paragraph("No probe ran.")
    columns = list(rows[0])
    cells = [
        [h.link(row[c], folder, is_folder=True) if c == "run folder" and row[c] else row[c] for c in columns]
        for row in rows
    ]
    return h.table(columns, cells, text_columns=[i for i, c in enumerate(columns) if c in ("endpoint", "reason")])


_PROBE_NOTE = h.paragraph("SLO metrics at the SLO's percentile.", "note")


def capacity_page(title: str, searches: list[dict[str, Any]], folder: str) -> str:
    """The HTML report of a capacity search whose file sits in ``folder`` (the search folder):
    verdicts, the comparison, then per endpoint its probes (with relative links to their run
    folders), interactive charts, and the SLO, settings and each probe's run_config.json."""
    verdicts = "".join(f"<p><strong>{html.escape(verdict_line(s))}</strong></p>" for s in searches)
    sections = [h.section("Verdict", verdicts or h.paragraph("No endpoint was searched."))]
    if len(searches) > 1:
        sections.append(h.section("Comparison", _html_table(_comparison_rows(searches), folder)))
    for s in searches:
        key = slug(s["endpoint"])
        charts = [h.chart(fig, f"chart-{key}-{name}") for name, fig in capacity_figures(s).items()]
        runs = [(f"probe {i}", p.get("run_folder")) for i, p in enumerate(s["probes"], start=1)]
        settings = {"slo": s.get("slo"), "search": s.get("mode"), "capacity": s.get("settings")}
        sections.append(
            h.section(
                s["endpoint"],
                h.paragraph(f"SLO: {s['slo_text']}"),
                f"<p>capacity.json: {h.link(s.get('capacity_json'), folder)}</p>",
                h.section("Probes", _PROBE_NOTE, _html_table(probe_rows(s), folder), level=3),
                *charts,
                h.section("Configuration", h.configs(h.read_run_configs(runs), settings), level=3),
            )
        )
    endpoints = ", ".join(s["endpoint"] for s in searches) or "-"
    facts = [("flow", "capacity-search"), ("endpoints" if len(searches) > 1 else "endpoint", endpoints)]
    return h.page(title, [*facts, ("results", folder)], sections)


async def publish_capacity_report(markdown: str, name: str, description: str) -> None:
    """The flow run's report artifact (key ``<name>-capacity-report``), first on its page."""
    await publish_report(markdown, key=f"{slug(name)}-capacity-report", description=description)
