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

__all__ = ["LoopLag", "MachineLag"]

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


class MachineLag:
    """``with MachineLag() as busy:`` ... ``busy.p99_ms``: how late a thread of this process
    woke from short sleeps while the block ran (p99, ms past due), i.e. how busy the machine
    was for a process doing next to nothing. A verdict on another process's own lag ("the
    generator was starved") can be checked against it: on a quiet machine it must say "not
    starved"; on one this busy, starved is the right answer."""

    def __init__(self, interval_s: float = PROBE_INTERVAL_S) -> None:
        import threading

        self._interval = interval_s
        self._late: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def _probe(self) -> None:
        while not self._stop.is_set():
            due = time.perf_counter() + self._interval
            time.sleep(self._interval)
            self._late.append(time.perf_counter() - due)

    @property
    def p99_ms(self) -> float:
        late = sorted(self._late)
        return late[int(0.99 * (len(late) - 1))] * 1000.0 if late else 0.0

    def __enter__(self) -> "MachineLag":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
