"""One report artifact per flow run, the first card of its Artifacts tab.

A sweep made 18 artifact cards in no order; a user wants one that answers the question: the
summary table (units in the headers), the charts, then a link to each run. ``report_markdown``
writes it, ``publish_report`` puts it first. Any flow that ends with a summary (a sweep, a
model comparison, a capacity search, a nightly) can publish its report through these two.

Why "first" needs work: the v2 flow-run page lists artifacts by id, highest first
(``ID_DESC``), and the server gives artifacts random ids. Every other artifact of this project
keeps its id below ``REPORT_FLOOR`` (``tasks/artifact_ids.py``), so ``publish_report`` creates
a tiny placeholder until one gets an id in the reports' range and above the flow run's top id
(about 8 tries, however many artifacts the flow run has; the losers are deleted), then fills
it in place. An artifact made some other way can sort above that range: the report is then
placed above it, in up to ``MAX_TRIES`` tries. One still in flight when the report is made is
caught by a check after it: the report is made again above it, up to ``SETTLE_ROUNDS`` times.
"""

from __future__ import annotations

import base64
from typing import Any, Iterable, Mapping, Sequence
from uuid import UUID

from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import ArtifactUpdate
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterType
from prefect.client.schemas.sorting import ArtifactSort
from prefect.runtime import flow_run

from llmeter_core.sweep_charts import CHARTS
from llmeter_core.sweep_html import summary_cells
from tasks.artifact_ids import is_report_id, made_until
from tasks.artifacts import artifact_key
from tasks.links import markdown_link

__all__ = ["report_key", "report_markdown", "markdown_table", "html_line", "publish_report", "MAX_TRIES"]

#: Most placeholders ``publish_report`` tries before it keeps the last one (wherever it sorts):
#: in the reports' range 1 id in 8 qualifies, so needing more has a chance of (7/8)**160, 5e-10.
MAX_TRIES = 160
#: Times ``publish_report`` puts the report back on top when an artifact landed above it.
SETTLE_ROUNDS = 3


def report_key(prefix: str) -> str:
    """The report's key: ``<flow prefix>-report``."""
    return artifact_key(prefix, "report")


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: Iterable[str]) -> str:
    """A markdown table of sweep rows in the display units (``TTFT p50 (ms)``...); columns no
    row has are left out. The cells are the HTML report's (``sweep_html.summary_cells``)."""
    headers, cells = summary_cells(rows, columns)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in cells]
    return "\n".join(lines)


def report_markdown(
    title: str,
    rows: Sequence[Mapping[str, Any]],
    columns: Iterable[str],
    pngs: Mapping[str, bytes],
    files: Mapping[str, str],
    chart_urls: Mapping[str, str] | None = None,
    html_url: str | None = None,
) -> str:
    """The report: the HTML report file (``html_url``), summary table, charts (inline, so the
    UI needs no access to the bucket), each run's folder, then the files beside the summary."""
    columns = [c for c in columns if c != "run_url"]
    lines = [f"# {title}", ""]
    if html_url:
        lines += [html_line(html_url), ""]
    lines += [
        f"{len(rows)} runs. Latencies in ms, throughput (completed requests) in req/s, tokens in tok/s.",
        "",
    ]
    lines += ["## Summary", "", markdown_table(list(rows), columns) if rows else "No run finished.", ""]
    titles = {chart.name: chart.title for chart in CHARTS}
    if pngs:
        lines += ["## Charts", ""]
    for name, data in pngs.items():
        heading = titles.get(name, name)
        lines += [f"### {heading}", "", f"![{heading}](data:image/png;base64,{base64.b64encode(data).decode()})", ""]
        if chart_urls and name in chart_urls:
            lines += [markdown_link(chart_urls[name], "file"), ""]
    lines += ["## Runs", ""]
    for row in rows:
        name = row.get("run_name") or "run"
        label = f"{row['endpoint']} / {name}" if row.get("endpoint") else str(name)
        lines.append(f"- {label}: " + (markdown_link(str(row["run_url"])) if row.get("run_url") else "not saved"))
    if files:
        lines += ["", "## Files", ""]
        lines += [f"- {what}: {markdown_link(url)}" for what, url in files.items()]
    return "\n".join(lines) + "\n"


def html_line(url: str) -> str:
    """The report artifact's line naming the HTML report file (one file, opens offline)."""
    return f"**Shareable report** (one HTML file, opens offline): {markdown_link(url)}"


async def _top_id(client: Any, run_id: UUID) -> str:
    """The highest id among the flow run's artifacts the page lists (``""`` if none): its
    query, which leaves out result artifacts."""
    # sorted by the server and one row: the server caps an unsorted read at its page size, and
    # a flow run with many runs has more than a page of artifacts
    found = await client.read_artifacts(
        artifact_filter=ArtifactFilter(
            flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), type=ArtifactFilterType(not_any_=["result"])
        ),
        sort=ArtifactSort.ID_DESC,
        limit=1,
    )
    return max((str(a.id) for a in found), default="")


async def _placeholder_on_top(client: Any, run_id: str | None, key: str, description: str) -> UUID:
    """A placeholder artifact whose id is in the reports' range and sorts above every other of
    the flow run's (or the last of ``MAX_TRIES``)."""
    top = await _top_id(client, UUID(run_id)) if run_id else ""
    return await made_until(
        lambda: acreate_markdown_artifact("Writing the report...", key=key, description=description),
        lambda artifact_id: not run_id or (is_report_id(artifact_id) and str(artifact_id) > top),
        MAX_TRIES,
        client,
    )


async def publish_report(markdown: str, key: str, description: str, replaces: UUID | None = None) -> UUID:
    """Create the report artifact of the current flow run, first on its Artifacts tab (see
    the module docstring); ``replaces``: an earlier version of it to delete (a placeholder
    created at the start of the flow)."""
    run_id = flow_run.id
    async with get_client() as client:
        artifact_id: UUID | None = None
        for _ in range(SETTLE_ROUNDS):  # an artifact a task still had in flight may land above it
            previous = artifact_id
            artifact_id = await _placeholder_on_top(client, run_id, key, description)
            await client.update_artifact(artifact_id, ArtifactUpdate(data=markdown))
            if previous is not None and previous != artifact_id:
                await client.delete_artifact(previous)
            if not run_id or await _top_id(client, UUID(run_id)) == str(artifact_id):
                break
        assert artifact_id is not None
        if replaces is not None and replaces != artifact_id:
            await client.delete_artifact(replaces)
    return artifact_id
