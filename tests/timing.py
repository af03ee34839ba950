"""Timing checks that hold on a busy machine.

A fixed wall-clock window (``ttft <= 0.15``) fails when the machine is loaded: the event loop
that runs the emulator and the client wakes its timers late, and everything scheduled on it is
late by as much. ``LoopLag`` measures that lateness *in the same test*, with a probe on the same
loop, so an upper bound can be ``expected + allowance + lag.worst``: tight on a quiet machine,
wide exactly as much as the machine was slow. Lower bounds (nothing happens *before* it is due)
need no allowance and stay exact.
"""

from __future__ import annotations

import asyncio
import time

__all__ = ["LoopLag"]

#: How often the probe wakes (it costs the loop next to nothing at this rate).
PROBE_INTERVAL_S = 0.002


class LoopLag:
    """``async with LoopLag() as lag:`` ... ``lag.worst_ms``: the latest the running loop woke a
    timer while the block ran (ms past its due time; at least one probe interval)."""

    def __init__(self) -> None:
        self.worst_s = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def worst_ms(self) -> float:
        return max(self.worst_s, PROBE_INTERVAL_S) * 1000.0

    async def _probe(self) -> None:
        while True:
            due = time.perf_counter() + PROBE_INTERVAL_S
            await asyncio.sleep(PROBE_INTERVAL_S)
            self.worst_s = max(self.worst_s, time.perf_counter() - due)

    async def __aenter__(self) -> "LoopLag":
        self._task = asyncio.ensure_future(self._probe())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass
