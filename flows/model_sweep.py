"""``model_sweep``: several endpoints or models, each swept as a ``load_test_sweep`` subflow.

All of them write into one dated folder (``<results>/<suite>/<date-time>/``), run names
prefixed by the endpoint label, and the flow ends with a comparison across models: a CSV +
Parquet with every run of every endpoint, comparison charts (one line per endpoint) and a
comparison table artifact.

With ``concurrent: true`` the sweeps of *different* endpoints run at the same time. Models
served behind one ``base_url`` (or one region and type) share a server, so they always run
one after another: loading them together would measure each other.
"""

import asyncio
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from pydantic.json_schema import SkipJsonSchema

from llmeter_core.spec import EndpointSpec
from tasks.interrupts import stop_on_signals, stop_requested

from .layout import results_root, slug, sweep_folder
from .params import SuiteSpec, endpoint_label, plan_checked
from .publish import publish_sweep
from .summary import summary_row
from .sweep import load_test_sweep

__all__ = ["model_sweep", "server_groups", "subflow_name"]

COMPARISON_COLUMNS: tuple[str, ...] = (
    "endpoint",
    "model_id",
    "clients",
    "rate",
    "achieved_rate",
    "total_requests",
    "failed_requests",
    "completed_requests_per_second",
    "requests_per_minute",
    "output_tps",
    "time_to_first_token-p50",
    "time_to_first_token-p90",
    "time_to_first_token-p99",
    "time_to_last_token-p50",
    "time_to_last_token-p99",
    "time_per_output_token-p50",
    "interrupted",
)


def subflow_name(suite: SuiteSpec, label: str) -> str:
    """The flow run name of one endpoint's sweep: its endpoint and load, not a random name
    (``small: clients 1,2,4``, ``large: rates 2,5 req/s``)."""
    if suite.rates is not None:
        return f"{label}: rates {','.join(f'{r:g}' for r in suite.rates)} req/s"
    return f"{label}: clients {','.join(str(c) for c in suite.clients)}"


def server_groups(endpoints: list[EndpointSpec]) -> list[list[EndpointSpec]]:
    """Endpoints grouped by the server they load, in suite order.

    The server is the ``base_url`` when there is one (OpenAI-compatible servers), else the
    endpoint type with its region or endpoint name (managed services, where each model has
    its own capacity).
    """
    groups: dict[tuple[str, ...], list[EndpointSpec]] = {}
    for endpoint in endpoints:
        options = endpoint.options()
        if options.get("base_url"):
            key: tuple[str, ...] = ("url", str(options["base_url"]).rstrip("/"))
        else:
            key = ("service", endpoint.type, str(options.get("region", "")), endpoint_label(endpoint))
        groups.setdefault(key, []).append(endpoint)
    return list(groups.values())


@flow(name="model-sweep", log_prints=False)
async def model_sweep(suite: SuiteSpec, folder: SkipJsonSchema[str | None] = None) -> dict[str, Any]:
    """Sweep every endpoint of ``suite`` and compare them; returns where everything is.

    Args:
        suite: Endpoints, payloads, load of each run, client counts and whether different
            endpoints may run at the same time.
        folder: Folder to write into (default ``<results>/<suite name>/<date-time>``).
    """
    with stop_on_signals(), plan_checked(suite):  # every endpoint at once; the subflows do not check again
        logger = get_run_logger()
        folder = folder or sweep_folder(results_root(suite.results), suite.name)
        groups = server_groups(suite.endpoints)
        logger.info(
            "model sweep %s: %d endpoints on %d servers, %s %s, %s -> %s",
            suite.name,
            len(suite.endpoints),
            len(groups),
            "rates" if suite.rates is not None else "clients",
            suite.rates if suite.rates is not None else suite.clients,
            "concurrently across servers" if suite.concurrent and len(groups) > 1 else "one after another",
            folder,
        )

        async def sweep_group(endpoints: list[EndpointSpec]) -> list[dict[str, Any]]:
            outputs = []
            for endpoint in endpoints:
                if stop_requested():
                    break
                label = endpoint_label(endpoint)
                named = load_test_sweep.with_options(flow_run_name=subflow_name(suite, label))
                out = await named(suite.sweep(endpoint), folder=folder, label=label)
                outputs.append(out)
                if out["interrupted"]:
                    break
            return outputs

        if suite.concurrent:
            per_group = await asyncio.gather(*(sweep_group(g) for g in groups))
        else:
            per_group = [await sweep_group(g) for g in groups]
        sweeps = [out for group in per_group for out in group]
        rows = [summary_row(run) for out in sweeps for run in out["runs"]]
        comparison = await publish_sweep(
            rows,
            folder,
            key_prefix=slug(f"{suite.name}-comparison"),
            title=f"Model comparison {suite.name}",
            basename="comparison",
            chart_prefix="comparison-",
            series="endpoint",
            table_columns=COMPARISON_COLUMNS,
        )
        logger.info("model sweep %s done: %d runs, comparison %s", suite.name, len(rows), comparison["csv"])
        return {
            **comparison,
            "flow_run_id": str(flow_run.id),
            "sweeps": {out["runs"][0]["endpoint"]: out["csv"] for out in sweeps if out["runs"]},
            "runs": [run for out in sweeps for run in out["runs"]],
            "interrupted": any(out["interrupted"] for out in sweeps),
        }
