"""Shards on a Prefect work pool: each shard a flow run of the ``load-shard`` deployment.

``load.shard_pool: NAME`` puts a sharded run's shards on the workers of work pool ``NAME``
(process pools, Kubernetes, ECS...): ``PoolShards`` finds the ``load-shard`` deployment on that
pool (deploy it from deployments/prefect.yaml), starts one flow run of it per shard with
``run_deployment`` (as subflows of the parent, so the UI shows them under it), and polls their
states until every one is final. The shards write to the run's folder on shared storage
(``s3://``: a worker on another machine cannot write the parent's local disk).

- A flow run still waiting for a worker ``NEVER_STARTED_S`` after the start is cancelled and
  reported ``never started`` (no worker took it: the pool is paused, full or has no worker).
- A flow run that ends Failed or Crashed is reported with its state message (its folder, if
  it wrote one, is merged as it is: a killed shard keeps what it uploaded).
- ``request_stop`` (a cancel of the parent) sets every unfinished shard run to Cancelling: its
  worker sends SIGTERM, the shard saves its partial folder (``flows/load_shard.py``).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName, WorkPoolFilter, WorkPoolFilterName
from prefect.client.schemas.objects import StateType
from prefect.deployments import run_deployment
from prefect.states import Cancelled, Cancelling

from llmeter_core.errors import ConfigError
from llmeter_core.spec import RunSpec

__all__ = ["PoolShards", "SHARD_FLOW", "NEVER_STARTED_S"]

#: The flow whose deployment runs one shard (flows/load_shard.py).
SHARD_FLOW = "load-shard"
#: Seconds after the start a shard's flow run may still wait for a worker before it is given up.
NEVER_STARTED_S = 60.0
_POLL_S = 1.0
_WAITING = {StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED}


class PoolShards:
    """The shards of one run as flow runs of the ``load-shard`` deployment on ``pool``."""

    #: A worker polls its pool every few seconds and starts a process (or a pod) per run.
    base_allowance_s = 60.0

    def __init__(self, pool: str, count: int):
        self.pool = pool
        self.count = count
        self.deployment_id: UUID | None = None
        self.flow_runs: dict[int, UUID] = {}
        self._final: set[int] = set()
        self._cancel: asyncio.Task[None] | None = None

    async def check(self) -> None:
        """Find the load-shard deployment on the pool; a ConfigError naming load.shard_pool if none."""
        async with get_client() as client:
            found = await client.read_deployments(
                flow_filter=FlowFilter(name=FlowFilterName(any_=[SHARD_FLOW])),
                work_pool_filter=WorkPoolFilter(name=WorkPoolFilterName(any_=[self.pool])),
            )
        if not found:
            raise ConfigError(
                "load.shard_pool",
                f"no {SHARD_FLOW} deployment on work pool {self.pool!r}: deploy it "
                "(prefect --no-prompt deploy --prefect-file deployments/prefect.yaml --name load-shard, "
                f"with work_pool.name: {self.pool})",
            )
        self.deployment_id = found[0].id

    async def prepare(self) -> dict[int, str]:
        return {}  # the workers start the processes when the flow runs are created

    async def run(self, spec: RunSpec, run_url: str, start_at: datetime) -> dict[int, str]:
        """Start a flow run per shard and wait until each is final; {index: why} of those
        that did not complete."""
        if self.deployment_id is None:
            await self.check()
        parameters = spec.model_dump(mode="json", by_alias=True)
        for index in range(self.count):
            flow_run = await run_deployment(  # type: ignore[misc]  # async here: arun_deployment
                name=self.deployment_id,  # type: ignore[arg-type]
                parameters={"spec": parameters, "run_url": run_url, "index": index, "start_at": start_at.isoformat()},
                flow_run_name=f"{spec.run_name or 'run'}-shard-{index}",
                timeout=0,
                as_subflow=True,
            )
            self.flow_runs[index] = flow_run.id
        return await self._wait(start_at)

    async def _wait(self, start_at: datetime) -> dict[int, str]:
        failures: dict[int, str] = {}
        async with get_client() as client:
            while len(self._final) < len(self.flow_runs):
                await asyncio.sleep(_POLL_S)
                late = (datetime.now(timezone.utc) - start_at).total_seconds() > NEVER_STARTED_S
                for index, run_id in self.flow_runs.items():
                    if index in self._final:
                        continue
                    state = (await client.read_flow_run(run_id)).state
                    if state is None:
                        continue
                    if state.is_final():
                        self._final.add(index)
                        if not state.is_completed():
                            failures[index] = f"its flow run ended {state.type.value}: {state.message or state.name}"
                    elif state.type in _WAITING and late:
                        await client.set_flow_run_state(run_id, Cancelled(message="never started"), force=True)
                        self._final.add(index)
                        failures[index] = (
                            f"no worker of work pool {self.pool!r} started its flow run within "
                            f"{NEVER_STARTED_S:.0f} s of the start"
                        )
        return failures

    def request_stop(self) -> None:
        """Cancel every unfinished shard run (called on the parent's loop)."""
        if self._cancel is None:
            self._cancel = asyncio.ensure_future(self._cancel_all())

    async def _cancel_all(self) -> None:
        async with get_client() as client:
            for index, run_id in self.flow_runs.items():
                if index not in self._final:
                    await client.set_flow_run_state(run_id, Cancelling(message="the sharded run was cancelled"))

    def close(self) -> None:
        pass
