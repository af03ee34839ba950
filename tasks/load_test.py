"""``run_load_test``: one llmeter_core run as a Prefect task.

Thin on purpose: build the Runner from a ``RunSpec``, attach the live-metrics sink, run,
publish the final artifacts, return a small summary. The run folder (responses, stats) is
written by llmeter_core to the results root (local or ``s3://``); Prefect only ever sees the
summary, never the responses.

Two rules the engine cannot enforce by itself:

- **A retry never mixes two attempts in one run folder.** Attempt *n* > 1 writes to
  ``<run_name>-attempt<n>``, and the runner refuses a folder that already holds a run. The
  task itself has ``retries=0``: retrying would send the load again. Uploads are retried
  (with backoff) inside llmeter_core, and a failed upload raises ``StorageError`` naming
  the local copy.
- **A cancel stops the load within a second and keeps the partial run.** See
  ``interrupts.py``: SIGTERM asks every active runner to stop, the interrupted run folder is
  saved, then the signal is handed back to Prefect.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import acreate_link_artifact, acreate_markdown_artifact, acreate_table_artifact
from prefect.client.orchestration import get_client
from prefect.runtime import task_run

from llmeter_core.live import generator_verdict
from llmeter_core.results import Result
from llmeter_core.spec import RunSpec

from .artifact_ids import below_reports
from .artifacts import artifact_key, metrics_description, metrics_table, plain
from .interrupts import stop_on_signals, tracking
from .links import console_url
from .live import PrefectLiveSink

__all__ = ["run_load_test", "attempt_run_name", "backstop_seconds", "run_summary", "publish_stats_link"]


def attempt_run_name(run_name: str, attempt: int) -> str:
    """The run folder name of one task attempt: unchanged for the first, suffixed after."""
    return run_name if attempt <= 1 else f"{run_name}-attempt{attempt}"


def backstop_seconds(spec: RunSpec, margin_s: float = 120.0) -> float | None:
    """A task timeout that only a hung run reaches (duration-bound runs only).

    The duration bound itself is enforced inside the load generator; a count-bound run has no
    natural ceiling, so it gets none.
    """
    load = spec.load
    if load.run_duration is None:
        return None
    return load.run_duration + load.grace_period + load.timeout + margin_s


def run_summary(result: Result, endpoint_label: str | None = None) -> dict[str, Any]:
    """What the task returns: where the run is and its stats, never its responses."""
    stats = {k: plain(v, 6) for k, v in result.stats.items() if not isinstance(v, (list, dict)) or k == "errors"}
    return {
        "run_name": result.run_name,
        "run_url": result.output_path,
        "stats_url": result.stats_url,
        "endpoint": endpoint_label or result.endpoint_name or result.model_id,
        "model_id": result.model_id,
        "clients": result.clients if stats.get("load_mode") != "rate" else None,
        "rate": (result.stats.get("offered_rate") if stats.get("load_mode") == "rate" else None),
        "n_requests": result.n_requests,
        "run_duration": result.run_duration,
        "total_requests": result.total_requests,
        "interrupted": result.interrupted,
        "stats": stats,
    }


@task(name="run-load-test", retries=0, task_run_name="load-{spec.run_name}", log_prints=False)
async def run_load_test(
    spec: RunSpec,
    artifact_prefix: str | None = None,
    endpoint_label: str | None = None,
) -> dict[str, Any]:
    """Run one load test and return its summary (run URL, stats.json URL, stats).

    Artifacts (keys start with ``artifact_prefix``, default the run name): ``-progress`` and
    ``-live`` updated in place while it runs, then ``-metrics`` (table) and ``-stats`` (link).
    """
    logger = get_run_logger()
    endpoint = endpoint_label or str(spec.endpoint.options().get("endpoint_name") or spec.endpoint.model_id)
    base_name = spec.run_name or "run"
    run_name = attempt_run_name(base_name, task_run.run_count)
    if run_name != base_name:
        logger.warning("attempt %d writes to its own run folder %s", task_run.run_count, run_name)
    prefix = artifact_prefix or run_name
    async with get_client() as client:
        sink = PrefectLiveSink(prefix, run_name, client, logger, endpoint=endpoint)
        runner = spec.runner(run_name=run_name, live_sinks=[sink], handle_signals=False)
        with stop_on_signals(), tracking(runner):
            await sink.start()
            logger.info(
                "load run %s, endpoint %s (%s): %s clients, %s -> %s",
                run_name,
                endpoint,
                spec.endpoint.type,
                spec.load.clients,
                f"{spec.load.n_requests} requests each" if spec.load.n_requests else f"{spec.load.run_duration} s",
                runner.run_config()["output_path"],
            )
            result = await runner.run()
            summary = run_summary(result, endpoint_label)
            state = "interrupted, partial run saved" if result.interrupted else "done"
            await below_reports(
                lambda: acreate_table_artifact(
                    metrics_table(result.stats),
                    key=artifact_key(prefix, "metrics"),
                    description=metrics_description(run_name, result.stats),
                )
            )
            if result.stats_url:
                await publish_stats_link(result.stats_url, prefix, f"load run {run_name}")
            if spec.plots and result.responses and result.output_path and not result.interrupted:
                await _publish_plots(result, prefix, run_name, logger)
            logger.info(
                "load run %s, endpoint %s, %s: %s requests, %s failed -> %s",
                run_name,
                endpoint,
                state,
                result.total_requests,
                result.stats.get("failed_requests"),
                result.output_path,
            )
            verdict = generator_verdict(result.stats)
            if verdict:
                logger.warning("load run %s, endpoint %s: %s", run_name, endpoint, verdict)
    return summary


async def publish_stats_link(stats_url: str, prefix: str, what: str) -> None:
    """Where stats.json is: a link to it in the S3 console, or (local results) its path as
    text, since a worker's file:// path opens nothing where the UI is read."""
    key = artifact_key(prefix, "stats")
    href = console_url(stats_url)
    if href:
        await below_reports(
            lambda: acreate_link_artifact(
                href, link_text=stats_url, key=key, description=f"stats.json of {what} (S3 console)"
            )
        )
    else:
        await below_reports(
            lambda: acreate_markdown_artifact(
                f"stats.json of {what}: `{stats_url}`",
                key=key,
                description=f"stats.json of {what}",
            )
        )


async def _publish_plots(result: Result, prefix: str, run_name: str, logger: Any) -> None:
    """Latency heatmaps and histograms beside the run and in a markdown artifact. Charts are
    a view of what was saved: failing to write them is logged, never fails the run."""
    from llmeter_core.plots import plots_markdown, render_run_plots, write_run_plots

    try:
        pngs = await asyncio.to_thread(render_run_plots, result.responses)
        urls = await asyncio.to_thread(write_run_plots, result, pngs)
    except Exception as exc:  # noqa: BLE001 - a chart is never worth a failed run
        logger.warning("run %s: charts not written: %s: %s", run_name, type(exc).__name__, exc)
        return
    if pngs:
        markdown = plots_markdown(f"Load run {run_name}", pngs, urls)
        await below_reports(
            lambda: acreate_markdown_artifact(
                markdown,
                key=artifact_key(prefix, "plots"),
                description=f"latency heatmaps and histograms of load run {run_name}",
            )
        )
