"""The synchronized start of a sharded run: every shard begins its measured load at one moment.

The parent of a sharded run picks a start time (UTC) a little in the future; each shard opens
its connections and sends its warm-up first, then waits at the ``StartGate`` until that moment
by its own system clock (``time.time_ns``: the clock NTP or chrony keeps in sync across
machines), and starts. What each shard records (stats.json and run_config.json):

- ``host``, ``pid``: where it ran;
- ``start_at``: the agreed start; ``ready_before_start_s``: how long before it the shard was
  ready (negative: its warm-up or its process start took longer than the parent allowed, and
  it started late);
- ``start_skew_s``: when it actually started minus ``start_at``, on its own clock (a few
  microseconds when ready in time; its lateness otherwise). A late shard's schedule starts
  when it starts: its sends keep their spacing and it sends its whole share;
- ``clock_offset_s``: the engine clock (``clock.utc_now``, which stamps every request) minus
  the system clock at the start, so a drift between the two is visible.

Skew between machines also includes the difference of their clocks, which no shard can see
itself: keep the hosts' clocks synchronized (README, "Sharded runs").
"""

from __future__ import annotations

import asyncio
import os
import socket
from datetime import datetime, timezone
from typing import Any, Callable

from .clock import engine_minus_system_s, format_time, now_ns, wall_minus_perf_ns

__all__ = ["StartGate"]

_SPIN_NS = 1_000_000  # the last millisecond is waited in loop iterations, not a timer
_STEP_S = 0.1  # longest sleep while waiting, so a stop is seen within it


class StartGate:
    """Waits for ``start_at`` (minus ``lead_ns``, the time the engine needs before its first
    send) and records how well the shard kept it."""

    def __init__(self, start_at: datetime, lead_ns: int = 0):
        if start_at.tzinfo is None:
            start_at = start_at.replace(tzinfo=timezone.utc)
        self.start_at = start_at
        self.lead_ns = lead_ns
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.ready_before_start_s: float | None = None
        self.start_skew_s: float | None = None
        self.clock_offset_s: float | None = None

    def _start_epoch_ns(self) -> int:
        delta = self.start_at - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000

    async def wait(self, stopping: Callable[[], bool]) -> None:
        """Return at the start (or at once when late, or when ``stopping()``)."""
        target = self._start_epoch_ns() - wall_minus_perf_ns() - self.lead_ns  # on the engine's counter
        self.ready_before_start_s = (target - now_ns()) / 1e9
        while not stopping():
            left = target - now_ns()
            if left <= 0:
                break
            if left > _SPIN_NS:
                await asyncio.sleep(min((left - _SPIN_NS) / 1e9, _STEP_S))
            else:
                await asyncio.sleep(0)
        self.start_skew_s = (now_ns() - target) / 1e9
        self.clock_offset_s = engine_minus_system_s()

    def config(self) -> dict[str, Any]:
        """run_config.json keys (written before the run: known even if the shard is killed)."""
        return {"start_at": format_time(self.start_at), "host": self.host, "pid": self.pid}

    def stats(self) -> dict[str, Any]:
        """stats.json keys of the start."""
        return {
            **self.config(),
            "ready_before_start_s": self.ready_before_start_s,
            "start_skew_s": self.start_skew_s,
            "clock_offset_s": self.clock_offset_s,
        }
