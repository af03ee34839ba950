"""The live view of a sharded run: the merged snapshot of every shard while they run.

Each shard appends its responses to ``<run>/shards/<k>/responses.jsonl`` (flushed every
second). ``ShardTail`` follows those files from the parent: every ``poll`` reads the complete
lines added since the last one into one ``RunningStats`` per shard, and ``snapshot`` merges
them (``RunningStats.merge``, as the final merge does) into a ``LiveSnapshot`` for the live
display and the Prefect artifacts. Only folders on a file system the parent can read are
followed (shards on this machine, or a shared mount); an ``s3://`` shard stages its responses
on its own worker until it ends, so the parent then only sees the final merge.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from .clock import utc_now
from .live import LiveSnapshot
from .response import InvocationResponse
from .stats import RunningStats
from .storage import is_local

__all__ = ["ShardTail"]


class ShardTail:
    """Follows the responses.jsonl of ``count`` shard folders under ``run_url``/shards."""

    def __init__(self, run_url: str, count: int):
        self.enabled = is_local(run_url)
        root = Path(run_url.removeprefix("file://"))
        self.paths = [root / "shards" / str(k) / "responses.jsonl" for k in range(count)]
        self.offsets = [0] * count
        self.stats = [RunningStats() for _ in range(count)]

    def poll(self) -> RunningStats:
        """Read what the shards appended since the last poll; the merged stats so far."""
        if self.enabled:
            for index, path in enumerate(self.paths):
                self._read(index, path)
        merged = RunningStats()
        for stats in self.stats:
            merged = merged.merge(stats)
        return merged

    def _read(self, index: int, path: Path) -> None:
        try:
            with open(path, "rb") as handle:
                handle.seek(self.offsets[index])
                data = handle.read()
        except OSError:
            return
        end = data.rfind(b"\n") + 1  # complete lines only: the rest is still being written
        for line in data[:end].splitlines():
            try:
                self.stats[index].update(InvocationResponse.from_dict(orjson.loads(line)))
            except (ValueError, TypeError, AttributeError):
                continue
        self.offsets[index] += end

    def snapshot(
        self,
        run_name: str,
        elapsed_s: float,
        expected_requests: int | None,
        run_duration: float | None,
    ) -> LiveSnapshot:
        """The merged snapshot of every shard now (``in_flight`` is not known from here: 0)."""
        merged = self.poll()
        done = merged.total_requests
        if run_duration:
            progress = min(1.0, max(0.0, elapsed_s / run_duration))
        elif expected_requests:
            progress = min(1.0, done / expected_requests)
        else:
            progress = 0.0
        stats = merged.to_stats(utc_now())
        stats["shards"] = len(self.paths)
        stats["shards_reporting"] = sum(1 for s in self.stats if s.total_requests)
        return LiveSnapshot(
            run_name=run_name,
            elapsed_s=elapsed_s,
            requests_sent=done,
            responses_done=done,
            in_flight=0,
            expected_requests=expected_requests,
            run_duration=run_duration,
            progress=progress,
            stats=stats,
        )
