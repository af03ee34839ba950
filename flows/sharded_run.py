"""``sharded_load_test``: one run spread over ``load.shards`` load-generator processes.

The flow of ``llmeter-flows run`` for a spec with ``load.shards`` > 1 (and of the sweeps'
sharded load points): the shards run as Prefect tasks in processes on this machine, or, with
``load.shard_pool``, as flow runs of the ``load-shard`` deployment on that work pool
(``flows/load_shard.py``); their folders are merged into one run folder that loads like any
other (see ``tasks/shards.py`` and ``llmeter_core/shard_merge.py``).
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run

from llmeter_core.spec import RunSpec
from tasks.interrupts import stop_on_signals
from tasks.shards import run_sharded_load_test

__all__ = ["sharded_load_test"]


@flow(name="sharded-load-test", log_prints=False)
async def sharded_load_test(spec: RunSpec, start_allowance: float | None = None) -> dict[str, Any]:
    """Run ``spec`` over ``spec.load.shards`` shards; returns the merged run's summary.

    Args:
        spec: The run (its ``load.shards``, and ``load.shard_pool`` for a work pool).
        start_allowance: Seconds between choosing the start and the shards' first request
            (default: 3 s on this machine, 60 s on a work pool, plus warm-up).
    """
    with stop_on_signals():
        summary = await run_sharded_load_test(spec, start_allowance=start_allowance)
        summary["flow_run_id"] = str(flow_run.id)
        return summary
