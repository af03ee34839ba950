"""The capacity search's report: one markdown document, verdict first.

``capacity_markdown`` builds it (pure: tests read it as text) and ``publish_capacity_report``
publishes it as the flow's one report artifact. Both are small on purpose, so the report
can move into a shared artifact scheme without touching the search.
"""

from __future__ import annotations

import base64
from typing import Any

from prefect.artifacts import acreate_markdown_artifact

from llmeter_core.capacity_charts import CAPACITY_CHART_TITLES
from llmeter_core.units import display_text, with_unit
from tasks.links import markdown_link

from .layout import slug

__all__ = ["capacity_markdown", "publish_capacity_report", "verdict_line", "probe_rows"]


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
        row["run folder"] = markdown_link(p["run_folder"]) if p.get("run_folder") else ""  # s3: a console link
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["(no probes)"]
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[c]).replace("|", "/") for c in columns) + " |")
    return lines


def capacity_markdown(title: str, searches: list[dict[str, Any]], pngs: dict[str, dict[str, bytes]]) -> str:
    """The report: every endpoint's verdict line first, a comparison table when there are
    several, then per endpoint its probe table and charts (inline PNGs)."""
    lines = [f"# {title}", ""]
    lines += [f"**{verdict_line(s)}**" + "  " for s in searches] + [""]
    if len(searches) > 1:
        lines += ["## Comparison", ""]
        lines += _table(
            [
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
        )
        lines.append("")
    for s in searches:
        lines += [f"## {s['endpoint']}", "", f"SLO: {s['slo_text']}; capacity.json: `{s['capacity_json']}`", ""]
        lines += _table(probe_rows(s)) + [""]
        for name, data in pngs.get(s["endpoint"], {}).items():
            heading = CAPACITY_CHART_TITLES.get(name, name)
            encoded = base64.b64encode(data).decode()
            lines += [f"### {heading}", "", f"![{heading}](data:image/png;base64,{encoded})", ""]
    return "\n".join(lines)


async def publish_capacity_report(markdown: str, name: str, description: str) -> None:
    """The flow's report artifact (key ``<name>-capacity-report``)."""
    await acreate_markdown_artifact(markdown, key=f"{slug(name)}-capacity-report", description=description)
