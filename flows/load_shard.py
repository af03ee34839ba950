"""``load_shard``: one shard of a sharded run, as a flow run on any work pool's worker.

The entrypoint of the ``load-shard`` deployment (deployments/prefect.yaml). A parent
(``tasks/shard_pool.py``) starts one flow run of it per shard with ``run_deployment``; each
runs its part of the load from the agreed start and writes ``<run>/shards/<index>/`` on the
run's shared storage (``s3://`` across machines). A Prefect cancel (SIGTERM from the worker)
stops the load and saves the partial folder before the signal goes back to Prefect
(``tasks/interrupts.py``), as for any run.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from llmeter_core.shards import shard_runner, shard_summary
from llmeter_core.spec import RunSpec
from tasks.interrupts import stop_on_signals, tracking

__all__ = ["load_shard"]


@flow(name="load-shard", log_prints=False)
async def load_shard(spec: RunSpec, run_url: str, index: int, start_at: datetime) -> dict[str, Any]:
    """Run shard ``index`` of the sharded run at ``run_url``, starting at ``start_at`` (UTC)."""
    with stop_on_signals():
        logger = get_run_logger()
        runner = shard_runner(spec, run_url, index, start_at, handle_signals=False)
        logger.info("shard %d of %d -> %s/shards/%d, start %s", index, spec.load.shards, run_url, index, start_at)
        with tracking(runner):
            result = await runner.run()
        summary = shard_summary(result, index)
        logger.info(
            "shard %d %s: %s requests, start skew %s s",
            index,
            "interrupted" if result.interrupted else "done",
            result.total_requests,
            summary.get("start_skew_s"),
        )
        return summary
