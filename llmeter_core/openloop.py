"""Open-loop load: requests sent on a schedule, whatever the endpoint does.

Closed-loop clients send their next request when the last one ends, so a slowing endpoint
silently lowers the load it is offered (coordinated omission). ``OpenLoop`` sends each request
of a ``Schedule`` at its own moment instead, and a late send never moves the sends after it.

How it sends:

- one dispatcher, a callback re-armed on an ``HRTimer`` (a kernel high-resolution timer; the
  event loop's own timers round to whole milliseconds), launches every send that is due and
  arms the timer for the next one; a send due within ``EARLY_NS`` is launched at once;
- a launched send starts one loop iteration later (a task's first step), and the timer
  itself wakes a little late: the dispatcher learns that lag (a running average of how late
  sends actually start) and launches each send that much ahead, at most
  ``MAX_HEAD_START_NS``, so sends leave on time rather than consistently late. A send may
  then leave a few microseconds early: its ``dispatch_delay`` is recorded as it is,
  negative then;
- each send is its own task (so a slow response never holds up the next send) that hands the
  payload and its scheduled time to the runner's ``send`` (callbacks, ``Endpoint.call``,
  recording: the same code as closed loop);
- ``max_concurrency`` caps the requests in flight: a send that would exceed it waits for a
  slot, and the wait shows as its dispatch delay (the client queue, not the endpoint). When the
  run stops, sends still waiting for a slot are never sent and are counted in ``unsent``:
  the server never saw them, so they are not requests.

``in_flight``, ``max_in_flight``, ``sent`` and ``unsent`` are what the live display and
stats.json report about the generator.
"""

from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable, Iterator

import numpy as np

from .clock import now_ns
from .hrtimer import HRTimer
from .schedule import Schedule

__all__ = ["OpenLoop", "EARLY_NS", "LEAD_NS"]

#: A send due within this much is launched now rather than after another timer wake-up.
EARLY_NS = 20_000
#: The schedule starts this long after ``run`` is called, so the first sends are not late
#: (the run's first moments start its ticker and monitor).
LEAD_NS = 20_000_000
#: The most the dispatcher launches a send ahead of its time (see ``_adapt``).
MAX_HEAD_START_NS = 1_000_000

Send = Callable[[dict[str, Any], int], Awaitable[None]]


class OpenLoop:
    """Sends ``payloads`` (an endless iterator) on ``schedule`` through ``send(payload,
    scheduled_ns)``; ``stopping()`` true ends the dispatch."""

    def __init__(
        self,
        schedule: Schedule,
        payloads: Iterator[dict[str, Any]],
        send: Send,
        stopping: Callable[[], bool],
        max_concurrency: int | None = None,
        shard: tuple[int, int] | None = None,
    ):
        self.schedule = schedule
        self._payloads = payloads
        self._send = send
        self._stopping = stopping
        self._slots = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self._blocks = schedule.shard(*shard) if shard else schedule.blocks()
        self._block: np.ndarray = np.empty(0, dtype=np.int64)
        self._index = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._exhausted: asyncio.Future[None] | None = None
        self._timer: HRTimer | None = None
        self.start_ns = 0
        self._head_start_ns = 0  # how far ahead of its time a send is launched (learned)
        self.scheduled = 0
        self.sent = 0
        self.unsent = 0
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def timer_kind(self) -> str:
        return self._timer.kind if self._timer is not None else "none"

    async def run(self, start_ns: int | None = None) -> None:
        """Dispatch the whole schedule (or until stopping), then wait for every send."""
        loop = asyncio.get_running_loop()
        self._timer = HRTimer(loop)
        self._exhausted = loop.create_future()
        self.start_ns = start_ns if start_ns is not None else now_ns() + LEAD_NS
        try:
            self._dispatch()
            await self._exhausted
            while self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
        finally:
            self._timer.close()
            for task in list(self._tasks):
                task.cancel()

    def stop(self) -> None:
        """End the dispatch now (sends already launched go on; the runner drains or cancels them)."""
        if self._timer is not None:
            self._timer.cancel()
        if self._exhausted is not None and not self._exhausted.done():
            self._exhausted.set_result(None)

    # -- the dispatcher ---------------------------------------------------------------------
    def _dispatch(self) -> None:
        """Launch every send that is due; arm the timer for the next."""
        start = self.start_ns
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping():
                self.stop()
                return
            if self._index >= self._block.size:
                block = next(self._blocks, None)
                if block is None:
                    self.stop()
                    return
                self._block, self._index = block, 0
                continue
            due = start + int(self._block[self._index])
            launch_at = due - self._head_start_ns
            if launch_at - now_ns() > EARLY_NS:
                self._timer.call_at(launch_at, self._dispatch)  # type: ignore[union-attr]
                return
            self._index += 1
            self.scheduled += 1
            task = loop.create_task(self._one(next(self._payloads), due))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _adapt(self, due_ns: int) -> None:
        """Learn how late a launched send starts: move the head start a tenth of the way
        towards making this one start on time."""
        late = now_ns() - due_ns
        head = self._head_start_ns + late // 10
        self._head_start_ns = 0 if head < 0 else min(head, MAX_HEAD_START_NS)

    async def _one(self, payload: dict[str, Any], due_ns: int) -> None:
        self._adapt(due_ns)
        slots = self._slots
        if slots is not None:
            await slots.acquire()
        try:
            if self._stopping():
                self.unsent += 1
                return
            self.sent += 1
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            try:
                await self._send(payload, due_ns)
            finally:
                self.in_flight -= 1
        finally:
            if slots is not None:
                slots.release()
