"""The generator's verdict on itself: was the load generator, not the endpoint, the limit?

A load generator that runs out of CPU or whose event loop falls behind sends late and times
late, and its numbers then describe itself. ``GeneratorMonitor`` samples, while a run goes:

- **event-loop lag**: a timer is asked to fire every ``interval_s``; how late it fires is the
  time any ready callback (a response's bytes, a scheduled send) waited for the loop. The
  loop's own timer rounding (~1 ms with epoll) is part of every sample, so only lags well
  above it mean anything;
- **CPU**: the event-loop thread's CPU time (``time.thread_time``, so an emulator or a sink
  thread in the same process is not counted) per wall second, as a fraction of one core.

``verdict`` turns those samples, and the open-loop dispatch delays, into ``client_bound`` with
its reasons, against documented thresholds (``THRESHOLDS``): dispatch delay p99 > 5 ms,
event-loop lag p99 > 5 ms, or mean CPU >= 90 % of a core. A dispatch delay that came with
the open-loop cap reached (``max_in_flight`` = ``max_concurrency``) says so.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from typing import Any

import numpy as np

from .clock import now_ns

__all__ = ["GeneratorMonitor", "THRESHOLDS", "verdict"]

#: When the generator counts as the bottleneck (stats.json ``client_bound``).
THRESHOLDS = {
    "dispatch_delay-p99": 0.005,  # seconds a scheduled send left late, 99th percentile
    "event_loop_lag-p99": 0.005,  # seconds the loop was late for a timer, 99th percentile
    "client_cpu_utilization-mean": 0.90,  # fraction of one core used by the event-loop thread
}


class GeneratorMonitor:
    """Samples event-loop lag and loop-thread CPU every ``interval_s`` while started."""

    def __init__(self, interval_s: float = 0.05, cpu_window_s: float = 0.5):
        self.interval_s = interval_s
        self.cpu_window_s = cpu_window_s
        self.lags = array("d")
        self.cpu = array("d")
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._due_ns = 0
        self._cpu_mark = (0, 0.0)

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._cpu_mark = (now_ns(), time.thread_time())
        self._arm(now_ns())

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._sample_cpu(force=True)

    def _arm(self, now: int) -> None:
        assert self._loop is not None
        self._due_ns = now + int(self.interval_s * 1e9)
        self._handle = self._loop.call_later(self.interval_s, self._tick)

    def _tick(self) -> None:
        now = now_ns()
        self.lags.append(max(0, now - self._due_ns) / 1e9)
        self._sample_cpu()
        self._arm(now)

    def _sample_cpu(self, force: bool = False) -> None:
        mark_ns, mark_cpu = self._cpu_mark
        now, cpu = now_ns(), time.thread_time()
        wall = (now - mark_ns) / 1e9
        if wall >= self.cpu_window_s or (force and wall > 0.05):
            self.cpu.append(min((cpu - mark_cpu) / wall, 1.0))
            self._cpu_mark = (now, cpu)

    def stats(self) -> dict[str, Any]:
        """stats.json keys: ``client_cpu_utilization-mean|max``, ``event_loop_lag-p99|max``."""
        lags = np.asarray(self.lags, dtype=float)
        cpu = np.asarray(self.cpu, dtype=float)
        return {
            "client_cpu_utilization-mean": float(cpu.mean()) if cpu.size else None,
            "client_cpu_utilization-max": float(cpu.max()) if cpu.size else None,
            "event_loop_lag-p99": float(np.percentile(lags, 99)) if lags.size else None,
            "event_loop_lag-max": float(lags.max()) if lags.size else None,
        }


def verdict(stats: dict[str, Any]) -> tuple[bool, str | None]:
    """``(client_bound, reason)`` from a stats dict holding the keys of ``THRESHOLDS``."""
    reasons = []
    for key, limit in THRESHOLDS.items():
        value = stats.get(key)
        if value is None or value < limit:
            continue
        if key.startswith("client_cpu"):
            reasons.append(f"generator CPU {value:.0%} of a core (limit {limit:.0%})")
        else:
            reasons.append(f"{key} {value * 1000:.1f} ms (limit {limit * 1000:.0f} ms)")
            if key == "dispatch_delay-p99" and _at_cap(stats):
                reasons[-1] += (
                    f" with {stats['max_concurrency']} requests in flight, the cap"
                    " (load.max_concurrency: raise it or add shards)"
                )
    return bool(reasons), "; ".join(reasons) or None


def _at_cap(stats: dict[str, Any]) -> bool:
    """Whether an open-loop run had as many requests in flight as its cap allows: its late
    sends then waited for a slot, which is why they were late."""
    cap, most = stats.get("max_concurrency"), stats.get("max_in_flight")
    return isinstance(cap, int) and isinstance(most, int) and most >= cap
