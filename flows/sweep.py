"""``load_test_sweep``: one endpoint under a sequence of client counts (LLMeter's LoadTest).

The runs go one after another: concurrent runs against one endpoint would distort each
other. Each is a ``run_load_test`` task writing ``<folder>/<NNNNN>-clients/``; then the sweep
summary (CSV + Parquet, one row per run), the charts and their artifacts are published
beside them. Every parameter problem is reported at once before the first request.

Run it locally with ``python -m flows.sweep SUITE.yaml`` (first endpoint of the suite), or
through ``llmeter-flows sweep`` / the ``on-demand-sweep`` deployment.
"""

import sys
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic.json_schema import SkipJsonSchema

from llmeter_core.history import history_url
from tasks.history import record_history
from tasks.interrupts import stop_on_signals, stop_requested
from tasks.shards import run_one

from .layout import results_root, slug, sweep_folder
from .params import SweepConfig, endpoint_label, plan_checked, point_run_name, run_spec
from .publish import publish_sweep
from .summary import summary_row

__all__ = ["load_test_sweep", "sweep_runs"]


async def sweep_runs(sweep: SweepConfig, folder: str, label: str | None, key_prefix: str) -> list[dict[str, Any]]:
    """Run every client count in order; stop early after an interrupted run. Summaries out."""
    logger = get_run_logger()
    name = label or endpoint_label(sweep.endpoint)
    summaries: list[dict[str, Any]] = []
    for point in sweep.load_points():
        if stop_requested():
            logger.warning("stop requested: skipping the remaining load points")
            break
        run_name = point_run_name(point, label)
        spec = run_spec(sweep, sweep.endpoint, point, folder, run_name)
        prefix = slug(f"{key_prefix}-{point_run_name(point)}")
        summary = await run_one(spec, artifact_prefix=prefix, endpoint_label=name)  # sharded or not
        summaries.append(summary)
        # One history row per run (a failed write is logged by its task; the run is saved).
        history = history_url(results_root(sweep.results), slug(sweep.name, "sweep"))
        await record_history(summary["run_url"], sweep.name, history, endpoint=name, return_state=True)  # type: ignore[misc]  # a State, awaited
        if summary["interrupted"]:
            logger.warning("run %s was interrupted: the sweep stops here", run_name)
            break
    return summaries


@flow(name="load-test-sweep", log_prints=False)
async def load_test_sweep(
    sweep: SweepConfig,
    # Set by model_sweep for its subflows; not parameters of a deployment (not in its form).
    folder: SkipJsonSchema[str | None] = None,
    label: SkipJsonSchema[str | None] = None,
) -> dict[str, Any]:
    """Sweep one endpoint over ``sweep.clients``; returns where everything is.

    Args:
        sweep: The endpoint, payloads, load of each run and client counts.
        folder: Sweep folder to write into (default ``<results>/<name>/<date-time>``);
            set by ``model_sweep`` so several endpoints share one dated folder.
        label: Endpoint label prefixing run names and file names when the folder is shared.
    """
    with stop_on_signals(), plan_checked(sweep):  # unless the flow or command that started it checked it
        logger = get_run_logger()
        folder = folder or sweep_folder(results_root(sweep.results), sweep.name)
        key_prefix = slug(f"{sweep.name}-{label}" if label else sweep.name)
        points = sweep.rates if sweep.rates is not None else sweep.clients
        logger.info(
            "sweep %s, endpoint %s (%s): %s %s -> %s",
            sweep.name,
            label or endpoint_label(sweep.endpoint),
            sweep.endpoint.type,
            "rates" if sweep.rates is not None else "clients",
            points,
            folder,
        )
        summaries = await sweep_runs(sweep, folder, label, key_prefix)
        rows = [summary_row(s) for s in summaries]
        title = f"Sweep {sweep.name}" + (f" / {label}" if label else "")
        outputs = await publish_sweep(
            rows,
            folder,
            key_prefix=key_prefix,
            title=title,
            basename=f"{slug(label)}-sweep-summary" if label else "sweep-summary",
            chart_prefix=f"{slug(label)}-" if label else "",
        )
        logger.info("sweep %s done: %d runs, summary %s", sweep.name, len(rows), outputs["csv"])
        return {
            **outputs,
            "flow_run_id": str(flow_run.id),
            "runs": summaries,
            "interrupted": any(s["interrupted"] for s in summaries),
        }


if __name__ == "__main__":  # pragma: no cover - local use: python -m flows.sweep SUITE.yaml
    import asyncio

    from .params import load_suite

    suite = load_suite(sys.argv[1])
    print(asyncio.run(load_test_sweep(suite.sweep(suite.endpoints[0])))["csv"])
