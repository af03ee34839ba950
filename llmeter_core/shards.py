"""One run across many load-generator processes: the engine's part of a sharded run.

A sharded run (``load.shards: N``) is one run folder written by N shards and their parent:

- the **parent** claims ``<run>/`` and writes its run_config.json and payload.jsonl before any
  shard starts (``ShardedRun.claim``), picks the start time (``ShardedRun.pick_start``), starts
  the shards (Prefect does that: ``tasks/shards.py``), and merges what they wrote
  (``shard_merge.merge_shards``) into ``<run>/responses.jsonl`` and ``<run>/stats.json``;
- **shard k** (``run_shard``) is an ordinary Runner for its part of the load (``LoadPlan`` with
  ``shard_index``: its share of the clients, or every N-th send of the run's one schedule):
  it opens and warms its connections, waits for the start (``start_gate.StartGate``), runs,
  and writes an ordinary run folder ``<run>/shards/<k>/`` (with ``host``, ``pid``,
  ``start_skew_s``... in its stats.json), saved on interrupt like any run.

Nothing here talks to another process: the shards share only the run's storage (a local folder
on one machine, ``s3://`` across machines) and the start time the parent gave them.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from .clock import format_time
from .results import Result
from .runner import Runner
from .spec import RunSpec
from .storage import RunFolder, default_run_name, join_url

__all__ = [
    "SHARDS_DIR",
    "ShardedRun",
    "shard_url",
    "shard_runner",
    "run_shard",
    "shard_summary",
    "start_allowance_s",
]

#: Sub-folder of a sharded run that holds one run folder per shard.
SHARDS_DIR = "shards"
#: Seconds a local shard needs between the start time being picked and its first request,
#: besides its warm-up (its process is already up: ``tasks/shards.py`` starts it first).
LOCAL_START_S = 3.0
#: Connections a shard is counted to open per second while it gets ready.
CONNECTS_PER_S = 2000.0


def shard_url(run_url: str, index: int) -> str:
    """The folder of shard ``index``: ``<run>/shards/<index>``."""
    return join_url(run_url, SHARDS_DIR, str(index))


#: Share of the time the shards took to get ready (spawn and import, or a pool's flow runs
#: starting) added to the start allowance: what a shard still does after it (receive its
#: task, build its endpoint) slows down with the machine in the same proportion.
PREPARE_SHARE = 0.25


def start_allowance_s(spec: RunSpec, base_s: float = LOCAL_START_S, prepare_s: float = 0.0) -> float:
    """How far ahead the parent sets the start: ``base_s`` (getting a process to the run),
    ``PREPARE_SHARE`` of the ``prepare_s`` seconds the shards took to get ready (measured:
    on a machine at load 6, 20 s, and 3 s alone left shards up to 0.9 s late), plus each
    shard's warm-up and connection opening, estimated from the load."""
    load = spec.load
    shards = load.shards
    if load.rate is not None:
        connections = math.ceil(load.rate / shards)
        warm = load.warmup_seconds
    else:
        connections = math.ceil((load.clients or 1) / shards)
        # closed-loop warm-up: warmup_requests per client, each at most a timeout (a guess:
        # a tenth of it), capped so a long timeout does not push the start far away
        warm = min(load.warmup_requests * load.timeout / 10, 60.0)
    return base_s + PREPARE_SHARE * prepare_s + warm + connections / CONNECTS_PER_S


def shard_runner(spec: RunSpec, run_url: str, index: int, start_at: datetime, **overrides: Any) -> Runner:
    """The Runner of shard ``index``: its part of the load, writing ``<run>/shards/<index>``
    and starting at ``start_at``."""
    options: dict[str, Any] = {
        "output_path": join_url(run_url, SHARDS_DIR),
        "run_name": str(index),
        "shard_index": index,
        "start_at": start_at,
        "display": False,
    }
    options.update(overrides)
    return spec.runner(**options)


async def run_shard(spec: RunSpec, run_url: str, index: int, start_at: datetime, **overrides: Any) -> Result:
    """Run shard ``index`` of a sharded run (the whole engine part of one shard)."""
    return await shard_runner(spec, run_url, index, start_at, **overrides).run()


def shard_summary(result: Result, index: int) -> dict[str, Any]:
    """What a shard hands back to its parent (small, JSON: a task or flow-run result)."""
    stats = result.stats
    keys = (
        "host",
        "pid",
        "start_at",
        "ready_before_start_s",
        "start_skew_s",
        "clock_offset_s",
        "client_bound",
        "client_bound_reason",
        "failed_requests",
    )
    return {
        "index": index,
        "url": result.output_path,
        "total_requests": result.total_requests,
        "interrupted": result.interrupted,
        **{k: stats.get(k) for k in keys},
    }


@dataclass
class ShardedRun:
    """The parent's side of a sharded run before its shards start: the run folder claimed,
    its run_config.json and payload.jsonl written, the start time chosen."""

    spec: RunSpec
    run_name: str
    folder: RunFolder
    config: dict[str, Any] = field(default_factory=dict)
    #: The whole run's offered rate (open loop), for the merged stats.json.
    offered_rate: float | None = None

    @property
    def url(self) -> str:
        return self.folder.url

    @property
    def count(self) -> int:
        return self.spec.load.shards

    @classmethod
    async def claim(cls, spec: RunSpec, run_name: str | None = None, **overrides: Any) -> "ShardedRun":
        """Check the spec as shard 0 will run it (every problem before anything is sent), claim
        ``<output>/<run_name>/`` and write its run_config.json and payload.jsonl."""
        name = run_name or spec.run_name or default_run_name()
        output = overrides.pop("output_path", spec.output)
        probe = spec.runner(output_path=None, run_name=name, shard_index=0, handle_signals=False, **overrides)
        folder = RunFolder(str(output), name)
        await asyncio.to_thread(folder.claim)
        config = probe.run_config()
        config.update(
            clients=spec.load.clients if spec.load.rate is None else probe.clients,
            shard_index=None,
            output_path=folder.url,
            start_at=None,
        )
        for key in ("host", "pid"):
            config.pop(key, None)
        offered = probe.plan.offered_rate()
        run = cls(
            spec=spec,
            run_name=name,
            folder=folder,
            config=config,
            offered_rate=offered * spec.load.shards if offered is not None else None,
        )
        folder.write_json("run_config.json", config)
        folder.write_lines("payload.jsonl", (orjson.dumps(p, default=str) for p in probe.payloads))
        return run

    def pick_start(self, allowance_s: float) -> datetime:
        """The start of every shard: ``allowance_s`` from now (UTC); recorded in run_config.json."""
        start = datetime.now(timezone.utc) + timedelta(seconds=allowance_s)  # the clock StartGate waits on
        self.config["start_at"] = format_time(start)
        self.folder.write_json("run_config.json", self.config)
        return start
