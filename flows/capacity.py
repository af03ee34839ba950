"""``capacity_search``: for each endpoint of a suite, the highest load that passes its SLO.

The rules of the search (growth, bisection, repeats, stops) live in
``llmeter_core.capacity``; this flow runs them. Each probe is one run (``tasks.shards.run_one``:
over ``load.shards`` processes when asked), in sequence (concurrent probes would distort each
other), writing its run folder under the search folder::

    <results>/<suite>/<date-time>/<endpoint label>/probe-01-rate-00010/...
    <results>/<suite>/<date-time>/<endpoint label>/capacity.json
    <results>/<suite>/<date-time>/<endpoint label>/charts/{slo-metric,goodput}.png
    <results>/<suite>/<date-time>/capacity-report.html

``capacity.json`` holds the answer ("40 req/s" with its bracket, "at least X" or "below X"),
the SLO, the search settings and every probe. The flow publishes one markdown report (the
verdicts first, a comparison table with several endpoints, each endpoint's probes and
charts), the same as one self-contained HTML file (``capacity-report.html``: interactive
charts, each probe's run_config.json), logs one line per probe and one verdict line per endpoint.

Run it with ``llmeter-flows capacity SUITE.yaml`` or the ``capacity-search`` deployment.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import fsspec
from prefect import flow, get_run_logger, task
from prefect.runtime import flow_run

from llmeter_core.capacity import CapacitySearch, judge
from llmeter_core.capacity_charts import render_capacity_charts
from llmeter_core.checks import Problems
from llmeter_core.html_report import report_name, write_report
from llmeter_core.spec import EndpointSpec
from tasks.interrupts import stop_on_signals, stop_requested
from tasks.shards import run_one

from .capacity_report import REPORT_PREFIX, capacity_markdown, capacity_page, publish_capacity_report, verdict_line
from .layout import join_url, results_root, slug, sweep_folder
from .params import SuiteSpec, check_plan, endpoint_label, plan_checked, point_run_name, run_spec

__all__ = ["capacity_search", "check_search", "search_endpoint"]


def check_search(suite: SuiteSpec) -> None:
    """Every problem of a capacity search at once, before any request: no ``slo``, a start
    above the ceiling, and the endpoints and payloads as the probes will build them."""
    problems = Problems()
    if suite.slo is None:
        problems.add("slo", "a capacity search needs an slo: block (e.g. slo: {ttft_ms: 500, percentile: 90})")
    for field, message in suite.capacity.problems(suite.search):
        problems.add(field, message)
    start = suite.capacity.bounds(suite.search)[0]
    probe = {"rates": [start]} if suite.search == "rate" else {"rates": None, "clients": [int(start)]}
    with problems.collect():
        check_plan(suite.model_copy(update=probe))  # the load options checked with the search's own kind of load
    problems.raise_if_any("invalid capacity search")


@task(name="write-capacity", retries=3, retry_delay_seconds=[1, 4, 10])
async def write_capacity(search: dict[str, Any], folder: str) -> dict[str, bytes]:
    """Write ``capacity.json`` and the charts into the endpoint's search folder; return the PNGs."""

    def write() -> dict[str, bytes]:
        pngs = render_capacity_charts(search)
        for name, data in pngs.items():
            _write_bytes(join_url(folder, "charts", f"{name}.png"), data)
        _write_bytes(search["capacity_json"], json.dumps(search, indent=2, default=str).encode())
        return pngs

    return await asyncio.to_thread(write)


@task(name="write-capacity-report", retries=3, retry_delay_seconds=[1, 4, 10])
async def write_capacity_report(title: str, searches: list[dict[str, Any]], folder: str) -> str | None:
    """Write the search's HTML report (``<folder>/capacity-report.html``); return its URL
    (None when the page could not be built: it is a view, the answer stands without it)."""
    url = join_url(folder, report_name(REPORT_PREFIX))
    try:
        document = await asyncio.to_thread(capacity_page, title, searches, folder)
    except Exception as exc:
        get_run_logger().warning("the HTML report of %s was not written: %r", title, exc)
        return None
    return await asyncio.to_thread(write_report, document, url)  # a failed write raises: retried


def _write_bytes(url: str, data: bytes) -> None:
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        handle.write(data)


async def search_endpoint(suite: SuiteSpec, endpoint: EndpointSpec, folder: str, key_prefix: str) -> dict[str, Any]:
    """One endpoint's search: probes until the rules say stop; capacity.json's content out."""
    assert suite.slo is not None  # check_search
    logger = get_run_logger()
    label = endpoint_label(endpoint)
    search_folder = join_url(folder, slug(label))
    search = CapacitySearch(suite.capacity, suite.search, target=suite.slo.target)
    unit = "req/s" if suite.search == "rate" else "clients"
    started = time.monotonic()
    while (load := search.next_load(time.monotonic() - started)) is not None:
        if stop_requested():
            search.stop("interrupted", "stop requested")
            break
        index = len(search.probes) + 1
        point = ("rate", load) if suite.search == "rate" else ("clients", float(int(load)))
        run_name = f"probe-{index:02d}-{point_run_name(point)}"
        spec = run_spec(suite, endpoint, point, search_folder, run_name).model_copy(update={"plots": False})
        task_started = time.monotonic()
        summary = await run_one(
            spec, artifact_prefix=slug(f"{key_prefix}-{label}-probe-{index:02d}"), endpoint_label=label
        )
        probe = judge(
            load, summary["stats"], suite.capacity, suite.search, summary["run_url"], time.monotonic() - task_started
        )
        search.record(probe)
        logger.info(
            "capacity %s probe %d: %g %s -> %s (attainment %s, achieved %s req/s)%s",
            label,
            index,
            load,
            unit,
            "pass" if probe.passed else "FAIL",
            "-" if probe.attainment is None else f"{probe.attainment:.1%}",
            "-" if probe.achieved_rate is None else f"{probe.achieved_rate:.1f}",
            f": {probe.reason}" if probe.reason else "",
        )
        if summary["interrupted"]:
            search.stop("interrupted", f"probe {index} was interrupted")
            break
    outcome = search.outcome()
    result: dict[str, Any] = {
        "endpoint": label,
        "model_id": endpoint.model_id,
        "mode": suite.search,
        "unit": unit,
        "slo": suite.slo.model_dump(),
        "slo_text": suite.slo.describe(),
        "settings": suite.capacity.model_dump(),
        **outcome.to_json(),
        "folder": search_folder,
        "capacity_json": join_url(search_folder, "capacity.json"),
        "seconds": round(time.monotonic() - started, 3),
    }
    result["verdict"] = verdict_line(result)
    (logger.warning if outcome.status in ("client_bound", "interrupted") else logger.info)(result["verdict"])
    return result


@flow(name="capacity-search", log_prints=False)
async def capacity_search(suite: SuiteSpec, folder: str | None = None) -> dict[str, Any]:
    """For each endpoint of ``suite``, find the highest load (``suite.search``: rate or
    clients) whose run passes ``suite.slo``; returns every endpoint's capacity.json content.

    Args:
        suite: Endpoints, payloads, the load of each probe (n_requests or run_duration...),
            the SLO, and how to search (``search``, ``capacity``).
        folder: Search folder to write into (default ``<results>/<name>/<date-time>``).
    """
    with stop_on_signals():
        check_search(suite)  # cheap (nothing is sent), so also when a command checked it first
        with plan_checked():
            logger = get_run_logger()
            folder = folder or sweep_folder(results_root(suite.results), suite.name)
            key_prefix = slug(suite.name)
            assert suite.slo is not None  # check_search
            logger.info("capacity search %s: %s at %s -> %s", suite.name, suite.search, suite.slo.describe(), folder)
            searches: list[dict[str, Any]] = []
            pngs: dict[str, dict[str, bytes]] = {}
            for endpoint in suite.endpoints:
                if stop_requested():
                    logger.warning("stop requested: skipping the remaining endpoints")
                    break
                result = await search_endpoint(suite, endpoint, folder, key_prefix)
                pngs[result["endpoint"]] = await write_capacity(result, result["folder"])
                searches.append(result)
            title = f"Capacity search {suite.name}"
            html_url = await write_capacity_report(title, searches, folder)
            await publish_capacity_report(
                capacity_markdown(title, searches, pngs, html_url),
                suite.name,
                f"{title}: " + "; ".join(s["verdict"] for s in searches),
            )
            return {
                "folder": folder,
                "html": html_url,
                "flow_run_id": str(flow_run.id),
                "searches": searches,
                "interrupted": any(s["status"] == "interrupted" for s in searches),
            }
