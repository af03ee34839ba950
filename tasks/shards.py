"""A sharded run on Prefect: ``load.shards: N`` load-generator processes, one merged run folder.

``run_sharded_load_test`` is the parent's side, called from a flow (``flows/sharded_run.py``,
the sweeps) when ``spec.load.shards`` > 1:

1. claim the run folder and write its run_config.json (``ShardedRun.claim``: every problem of
   the spec is reported before anything starts);
2. get the shards' processes up: by default ``LocalShards``, one Prefect
   ``ProcessPoolTaskRunner`` per shard (``max_workers=1``: a shard whose process is killed
   breaks only its own pool, where one shared pool would terminate every other worker), each
   first running ``shard_process_ready`` so the process is spawned and imported before the
   clock starts; with ``load.shard_pool`` ``PoolShards`` (``shard_pool.py``): a flow run of
   the ``load-shard`` deployment on that work pool per shard;
3. pick the start (``start_allowance_s`` ahead: more for a work pool, and more the longer
   the shards took to get ready, so a loaded machine still starts them together), run every shard
   (``run_shard_task`` / the ``load-shard`` flow), wait for all of them however they end;
4. merge the shard folders into the run folder (``shard_merge``), publish the artifacts.

A cancel or Ctrl-C of the parent (``interrupts.py``) stops every shard: local shards get
SIGTERM (each saves its partial folder, as any run), pool shards are set to Cancelling
(their worker sends SIGTERM); the parent still merges what they saved, then hands the signal
back. A shard that fails, is killed or never starts is recorded in the failures the merge
labels the run with; the other shards run to their end.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import time
from datetime import datetime, timezone
from typing import Any, AsyncIterator, Protocol

from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.client.orchestration import get_client
from prefect.task_runners import ProcessPoolTaskRunner

from llmeter_core.live import generator_verdict
from llmeter_core.shard_live import ShardTail
from llmeter_core.shard_merge import finish_sharded_run
from llmeter_core.shards import ShardedRun, shard_runner, shard_summary, start_allowance_s
from llmeter_core.spec import RunSpec

from .artifact_ids import below_reports
from .artifacts import artifact_key, metrics_description, metrics_table
from .interrupts import stop_on_signals, tracking
from .live import PrefectLiveSink
from .load_test import backstop_seconds, publish_stats_link, run_load_test, run_summary

__all__ = [
    "run_one",
    "run_sharded_load_test",
    "run_shard_task",
    "shard_process_ready",
    "LocalShards",
    "describe_failure",
]


@task(name="shard-process-ready", retries=0)
def shard_process_ready() -> dict[str, Any]:
    """Runs first in a shard's process, so it is spawned and imported before the start is set."""
    return {"pid": os.getpid(), "host": socket.gethostname()}


@task(name="load-shard", retries=0, task_run_name="shard-{index}")
async def run_shard_task(spec: RunSpec, run_url: str, index: int, start_at: datetime) -> dict[str, Any]:
    """Shard ``index`` of a sharded run, in its own process: ``<run>/shards/<index>``.

    In the pool's process it runs on the main thread, so the Runner's own signal handling
    applies: SIGTERM (the parent stopping it) or Ctrl-C stops the load, saves the partial
    folder and returns normally."""
    result = await shard_runner(spec, run_url, index, start_at, handle_signals=True).run()
    return shard_summary(result, index)


def describe_failure(exc: BaseException) -> str:
    """A shard's failure in one line (a killed process shows as a broken pool)."""
    name = type(exc).__name__
    if name == "BrokenProcessPool":
        return "its process ended abruptly (killed, or out of memory)"
    return f"{name}: {exc}" if str(exc) else name


class Shards(Protocol):
    """Where the shards of a run execute (``LocalShards`` or ``shard_pool.PoolShards``)."""

    base_allowance_s: float

    async def prepare(self) -> dict[int, str]: ...
    async def run(self, spec: RunSpec, run_url: str, start_at: datetime) -> dict[int, str]: ...
    def request_stop(self) -> None: ...
    def close(self) -> None: ...


class LocalShards:
    """Shards on this machine: one ``ProcessPoolTaskRunner(max_workers=1)`` each."""

    base_allowance_s = 3.0

    def __init__(self, count: int):
        self.count = count
        self.pools = [ProcessPoolTaskRunner(max_workers=1) for _ in range(count)]
        self.pids: dict[int, int] = {}
        self._stack = contextlib.ExitStack()
        self._stopped = False

    async def prepare(self) -> dict[int, str]:
        """Start every shard's process; returns the shards whose process did not start.

        The processes must talk to this flow's API: with Prefect's ephemeral server (no
        ``PREFECT_API_URL``) each would otherwise start a server of its own (tens of seconds,
        and their task runs would not show under this flow), so they are given its URL."""
        if not os.environ.get("PREFECT_API_URL"):
            async with get_client() as client:
                url = str(client.api_url)
            if url.startswith("http"):
                self._stack.callback(os.environ.pop, "PREFECT_API_URL", None)
                os.environ["PREFECT_API_URL"] = url
        for pool in self.pools:
            self._stack.enter_context(pool)
        futures = [pool.submit(shard_process_ready, {}) for pool in self.pools]
        failures: dict[int, str] = {}
        for index, future in enumerate(futures):
            try:
                info = await asyncio.to_thread(future.result)
                self.pids[index] = int(info["pid"])
            except BaseException as exc:  # noqa: BLE001 - recorded, the other shards go on
                failures[index] = f"its process did not start: {describe_failure(exc)}"
        return failures

    async def run(self, spec: RunSpec, run_url: str, start_at: datetime) -> dict[int, str]:
        """Run every started shard; returns {index: why} for those that did not end well."""
        futures = {
            index: self.pools[index].submit(
                run_shard_task, {"spec": spec, "run_url": run_url, "index": index, "start_at": start_at}
            )
            for index in self.pids
        }
        failures: dict[int, str] = {}
        for index, future in futures.items():
            try:
                await asyncio.to_thread(_outcome, future)
            except BaseException as exc:  # noqa: BLE001 - recorded, the other shards go on
                failures[index] = describe_failure(exc)
        return failures

    def request_stop(self) -> None:
        """SIGTERM to every shard's process: each stops and saves its partial folder."""
        self._stopped = True
        for pid in self.pids.values():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)

    def close(self) -> None:
        self._stack.close()


def _outcome(future: Any) -> Any:
    """A future's result (raises what the shard raised; a killed process: BrokenProcessPool)."""
    return future.result()


class _Stopper:
    """What ``interrupts.tracking`` stops on a cancel: the shards (thread-safe)."""

    def __init__(self, shards: Shards, loop: asyncio.AbstractEventLoop):
        self.shards = shards
        self.loop = loop
        self.requested = False

    def request_stop(self) -> None:
        self.requested = True
        self.loop.call_soon_threadsafe(self.shards.request_stop)


def shards_for(spec: RunSpec) -> Shards:
    if spec.load.shard_pool:
        from .shard_pool import PoolShards

        return PoolShards(spec.load.shard_pool, spec.load.shards)
    return LocalShards(spec.load.shards)


async def run_one(spec: RunSpec, artifact_prefix: str, endpoint_label: str) -> dict[str, Any]:
    """One run of a flow (a sweep's load point, a capacity probe): over ``load.shards``
    processes when it asks for more than one, else the ``run_load_test`` task; the same
    summary either way."""
    if spec.load.shards > 1:
        return await run_sharded_load_test(spec, artifact_prefix=artifact_prefix, endpoint_label=endpoint_label)
    task = run_load_test.with_options(timeout_seconds=backstop_seconds(spec))
    return await task(spec, artifact_prefix=artifact_prefix, endpoint_label=endpoint_label)


async def run_sharded_load_test(
    spec: RunSpec,
    run_name: str | None = None,
    artifact_prefix: str | None = None,
    endpoint_label: str | None = None,
    start_allowance: float | None = None,
) -> dict[str, Any]:
    """Run ``spec`` over ``spec.load.shards`` shards and return the merged run's summary
    (the same as ``run_load_test``'s). Call it from a flow."""
    logger = get_run_logger()
    shards = shards_for(spec)
    check = getattr(shards, "check", None)
    if check is not None:
        await check()  # a work pool without a load-shard deployment: refused before anything is written
    run = await ShardedRun.claim(spec, run_name or spec.run_name)
    name = run.run_name
    prefix = artifact_prefix or name
    stopper = _Stopper(shards, asyncio.get_running_loop())
    where = f"work pool {spec.load.shard_pool}" if spec.load.shard_pool else "processes on this machine"
    logger.info("sharded run %s: %d shards on %s -> %s", name, run.count, where, run.url)
    failures: dict[int, str] = {}
    try:
        with stop_on_signals(), tracking(stopper):
            try:
                began = time.monotonic()
                failures.update(await shards.prepare())
                allowance = start_allowance_s(spec, shards.base_allowance_s, time.monotonic() - began)
                start = run.pick_start(start_allowance if start_allowance is not None else allowance)
                if not stopper.requested:
                    logger.info("sharded run %s starts at %s", name, run.config["start_at"])
                    async with _live_view(spec, run, prefix, start, logger, endpoint_label):
                        failures.update(await shards.run(spec, run.url, start))
            finally:
                for index, why in sorted(failures.items()):
                    logger.error("sharded run %s: shard %d: %s", name, index, why)
                result = await finish_sharded_run(run, failures)  # before a cancel is handed back
    finally:
        shards.close()
    stats = result.stats
    await below_reports(
        lambda: acreate_table_artifact(
            metrics_table(stats), key=artifact_key(prefix, "metrics"), description=metrics_description(name, stats)
        )
    )
    if result.stats_url:
        await publish_stats_link(result.stats_url, prefix, f"sharded load run {name} ({run.count} shards)")
    logger.info(
        "sharded run %s %s: %s requests over %d shards, start skew max %s s, merge %.2f s -> %s",
        name,
        "partial" if stats.get("partial") else "done",
        result.total_requests,
        run.count,
        _short(stats.get("start_skew_s-max")),
        stats.get("merge_seconds") or 0.0,
        result.output_path,
    )
    if stats.get("partial"):
        logger.warning("sharded run %s is partial: %s", name, stats.get("partial_reason"))
    verdict = generator_verdict(stats)
    if verdict:
        logger.warning("sharded run %s: %s", name, verdict)
    summary = run_summary(result, endpoint_label)
    summary["partial"] = bool(stats.get("partial"))
    return summary


@contextlib.asynccontextmanager
async def _live_view(
    spec: RunSpec, run: ShardedRun, prefix: str, start: datetime, logger: Any, endpoint: str | None = None
) -> AsyncIterator[None]:
    """Every ``live_interval`` while the shards run: the merged snapshot of all of them in the
    parent's live artifacts and log (``shard_live.ShardTail``: shard folders the parent can
    read; for ``s3://`` shards only the final merge is shown)."""
    tail = ShardTail(run.url, run.count)
    if not tail.enabled:
        yield
        return
    load = spec.load
    expected = load.n_requests if load.rate is not None else (load.n_requests or 0) * (load.clients or 1) or None

    async def tick(sink: PrefectLiveSink) -> None:
        while True:
            await asyncio.sleep(spec.live_interval)
            elapsed = max(0.0, (datetime.now(timezone.utc) - start).total_seconds())
            snapshot = await asyncio.to_thread(tail.snapshot, run.run_name, elapsed, expected, load.run_duration)
            await sink(snapshot)

    async with get_client() as client:
        sink = PrefectLiveSink(prefix, run.run_name, client, logger, endpoint=endpoint)
        await sink.start()
        ticker = asyncio.ensure_future(tick(sink))
        try:
            yield
        finally:
            ticker.cancel()
            await asyncio.gather(ticker, return_exceptions=True)


def _short(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"
