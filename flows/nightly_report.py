"""The "nightly report": one markdown artifact, the first of the nightly flow run.

Created as a placeholder before the first request (so it is the run's first artifact and
is there while the night runs), then updated in place once the runs are compared: the
verdict at the top (``2 regressions: model-a TTFT p90 +23% (CI +18..+28%) at 8 clients``),
a summary table, then per endpoint its trend chart over the last 30 nights and a table per
load point with baseline, candidate, change, confidence interval and verdict. The chart
PNGs are also written to ``<night folder>/charts/nightly-trend-<endpoint>.png``, and the
report as one self-contained HTML file to ``<night folder>/nightly-report.html``
(``nightly_html.py``), linked from the artifact.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from typing import Any
from uuid import UUID

import pandas as pd
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate

from llmeter_core.compare_format import VERDICT_MARK, comparison_markdown
from llmeter_core.html_report import report_name, write_report
from tasks.artifact_ids import below_reports
from tasks.artifacts import artifact_key

from .charts import write_charts
from .layout import join_url
from .nightly_html import REPORT_PREFIX, nightly_page
from .regression import NightVerdict, PointResult
from .report import html_line, publish_report
from .trend_charts import TREND_METRICS, TrendSeries, render_trend

__all__ = ["NIGHTS", "report_key", "start_report", "finish_report", "report_markdown"]

#: How many past runs of each load point the trend charts show.
NIGHTS = 30


def report_key(suite: str) -> str:
    return artifact_key(suite, "nightly-report")


async def start_report(suite: str, folder: str) -> UUID:
    """Create the report artifact (a placeholder until the runs are compared, then replaced by
    the report through ``publish_report``; its id stays out of the reports' range, so the
    report never has to beat it)."""
    return await below_reports(
        lambda: acreate_markdown_artifact(
            f"# Nightly report: {suite}\n\nRunning: the verdict appears here when the runs are compared.\n\n"
            f"Results: `{folder}`\n",
            key=report_key(suite),
            description=f"Nightly report of {suite}: verdict, comparison with the baseline, trends",
        )
    )


def _series(point: PointResult, history: pd.DataFrame) -> TrendSeries:
    row = point.row or {}
    rows = history
    if not rows.empty:
        same_point = rows["clients"] == point.clients if point.rate is None else rows["rate"] == point.rate
        rows = rows[(rows["endpoint"] == point.endpoint) & same_point & (rows["config_hash"] == row.get("config_hash"))]
        if row.get("start_time") is not None:
            rows = rows[rows["start_time"] <= pd.Timestamp(row["start_time"])]
    if point.run_url and (rows.empty or point.run_url not in set(rows["run_url"])):
        rows = pd.concat([rows, pd.DataFrame([row])], ignore_index=True) if not rows.empty else pd.DataFrame([row])
    rows = rows.sort_values("start_time", kind="stable").tail(NIGHTS)
    values: dict[str, float | None] = {}
    if point.comparison is not None:
        by_metric = {m.metric: m.baseline for m in point.comparison.metrics}
        values = {key: by_metric.get(key) for key, *_ in TREND_METRICS}
    urls = set(point.baseline.urls) if point.baseline else set()
    return TrendSeries(point.point, rows, urls, values, point.run_url)


def _charts(verdict: NightVerdict, history: pd.DataFrame) -> dict[str, bytes]:
    by_endpoint: dict[str, list[TrendSeries]] = {}
    for point in verdict.points:
        if point.row is not None:
            by_endpoint.setdefault(point.endpoint, []).append(_series(point, history))
    return {endpoint: render_trend(endpoint, series) for endpoint, series in by_endpoint.items()}


def _title(verdict: NightVerdict, on_regression: str) -> str:
    if verdict.broken:
        return "FAILED"
    if verdict.regressed:
        return "REGRESSED" + (" (warning only: on_regression is warn)" if on_regression == "warn" else "")
    if not verdict.comparisons:
        return "no baseline yet"
    return "no regressions"


def report_markdown(
    verdict: NightVerdict,
    pngs: dict[str, bytes],
    urls: dict[str, str],
    on_regression: str,
    flow_run_url: str | None = None,
    html_url: str | None = None,
) -> str:
    """The report text (see the module docstring)."""
    settings = verdict.settings
    lines = [
        f"# Nightly report: {verdict.suite}: {_title(verdict, on_regression)}",
        "",
        f"**{verdict.headline()}**",
        "",
        *([html_line(html_url), ""] if html_url else []),
        f"- results: `{verdict.folder}`",
        f"- baseline: {verdict.policy.describe()}",
        f"- a regression: significant at {settings.confidence * 100:g} % and beyond the threshold "
        f"(default ±{settings.thresholds.get('default', settings.default_threshold) * 100:g} %, error rate "
        f"±{settings.error_rate_threshold * 100:g} points), or a new error type",
    ]
    if flow_run_url:
        lines.append(f"- flow run: {flow_run_url}")
    lines += ["", "| endpoint | load | verdict | findings | baseline |", "|---|---|---|---|---|"]
    for p in verdict.points:
        found = p.comparison.findings() if p.comparison else []
        findings = ", ".join(found[:3]) + (f" and {len(found) - 3} more" if len(found) > 3 else "") if found else p.note
        baseline = p.baseline.note if p.baseline else "-"
        mark = VERDICT_MARK.get(p.verdict, p.verdict)
        if p.status == "not-run":
            mark = "🔴 did not run"
        lines.append(f"| {p.endpoint} | {p.point} | {mark} | {findings or '-'} | {baseline} |")
    for endpoint in dict.fromkeys(p.endpoint for p in verdict.points):
        lines += ["", f"## {endpoint}", ""]
        if endpoint in pngs:
            data = base64.b64encode(pngs[endpoint]).decode()
            lines += [
                f"![{endpoint} trend](data:image/png;base64,{data})",
                "",
                f"Last {NIGHTS} runs of each load point (`{urls.get(endpoint, '')}`).",
                "",
            ]
        for p in verdict.points:
            if p.endpoint != endpoint:
                continue
            if p.comparison is not None:
                lines.append(comparison_markdown(p.comparison, heading="###"))
            else:
                lines += [f"### {p.endpoint} at {p.point}: {p.verdict}", "", p.note or "-", ""]
    return "\n".join(lines) + "\n"


def _write(verdict: NightVerdict, history: pd.DataFrame) -> tuple[dict[str, bytes], dict[str, str]]:
    pngs = _charts(verdict, history)
    named = {f"nightly-trend-{artifact_key(endpoint)}": data for endpoint, data in pngs.items()}
    written = write_charts(named, verdict.folder) if named else {}
    urls = {endpoint: written[f"nightly-trend-{artifact_key(endpoint)}"] for endpoint in pngs}
    return pngs, urls


def write_html(verdict: NightVerdict, pngs: dict[str, bytes], on_regression: str, flow_run_url: str | None) -> str:
    """Write ``<night folder>/nightly-report.html``; return its URL."""
    name = report_name(REPORT_PREFIX)
    title = f"Nightly report: {verdict.suite}: {_title(verdict, on_regression)}"
    return write_report(nightly_page(verdict, title, pngs, flow_run_url, name), join_url(verdict.folder, name))


async def finish_report(
    report_id: UUID,
    verdict: NightVerdict,
    history: pd.DataFrame,
    on_regression: str,
    flow_run_url: str | None = None,
    suite: str | None = None,
) -> dict[str, Any]:
    """Render the charts, write them beside the runs and fill the report in: with ``suite``,
    as a new artifact that sorts first on the flow run's page (``report.publish_report``,
    the placeholder deleted), else in place."""
    try:
        pngs, urls = await asyncio.to_thread(_write, verdict, history)
    except Exception:  # charts are a view: a failed write must not hide the verdict
        pngs, urls = await asyncio.to_thread(_charts, verdict, history), {}
    try:
        html_url: str | None = await asyncio.to_thread(write_html, verdict, pngs, on_regression, flow_run_url)
    except Exception as exc:  # the file is a view too: the verdict stands without it
        logging.getLogger(__name__).warning("nightly %s: the HTML report was not written: %s", verdict.suite, exc)
        html_url = None
    markdown = report_markdown(verdict, pngs, urls, on_regression, flow_run_url, html_url)
    if suite is not None:
        description = f"Nightly report of {suite}: verdict, comparison with the baseline, trends"
        await publish_report(markdown, report_key(suite), description, replaces=report_id)
    else:
        async with get_client() as client:
            await client.update_artifact(report_id, ArtifactUpdate(data=markdown))
    return {"charts": urls, "markdown": markdown, "html": html_url}
