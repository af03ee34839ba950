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
- ``max_concurrency`` caps the requests in flight: at the cap the dispatcher holds the sends
  that fall due, in order, and launches the next as soon as a send ends; the wait shows as
  their dispatch delay (the client queue, not the endpoint). A held send has no task yet, so
  a run far behind its schedule keeps its memory flat. The runner always gives a cap:
  ``load.max_concurrency``, or ``default_max_concurrency()``. Without one, a generator that
  falls behind launches every late send at once; each finds no idle connection and opens its
  own, the connects eat the CPU the sends needed, and the run collapses (measured: 4,000
  req/s asked of a zero-latency emulator on 2 cores gave 627 req/s, 20,000 connections and
  a 34 s dispatch delay; a longer run runs out of ports). When the run stops, the sends
  already due but still held are never sent and are counted in ``unsent``: the server never
  saw them, so they are not requests. So are sends the run's end cancels while they wait
  for their connection (``SendCancelled``: not a byte written).

``in_flight``, ``max_in_flight``, ``sent`` and ``unsent`` are what the live display and
stats.json report about the generator.
"""

from __future__ import annotations

import asyncio
import resource
from typing import Any, Awaitable, Callable, Iterator

import numpy as np

from .clock import now_ns
from .hrtimer import HRTimer
from .schedule import Schedule

__all__ = ["OpenLoop", "EARLY_NS", "LEAD_NS", "DEFAULT_MAX_CONCURRENCY", "default_max_concurrency"]

#: A send due within this much is launched now rather than after another timer wake-up.
EARLY_NS = 20_000
#: The schedule starts this long after ``run`` is called, so the first sends are not late
#: (the run's first moments start its ticker and monitor).
LEAD_NS = 20_000_000
#: The most the dispatcher launches a send ahead of its time (see ``_adapt``).
MAX_HEAD_START_NS = 1_000_000

#: Requests in flight at most when ``load.max_concurrency`` is not given (per process: each
#: shard has its own). guidellm's scheduler caps at 512 by default; this is higher so that a
#: slow endpoint at a high rate (1,000 in flight = 50 req/s of 20 s streams) is not capped.
DEFAULT_MAX_CONCURRENCY = 1024
#: File descriptors kept free of connections under the default cap (run folder, logs, DNS).
FD_RESERVE = 64


def default_max_concurrency() -> int:
    """``DEFAULT_MAX_CONCURRENCY``, or less where this process may open fewer files
    (``ulimit -n``; macOS starts at 256): one connection per request in flight, plus
    ``FD_RESERVE``."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return DEFAULT_MAX_CONCURRENCY
    return max(1, min(DEFAULT_MAX_CONCURRENCY, soft - FD_RESERVE))


#: ``send(payload, scheduled_ns)``: False if the request was never written (the run ended
#: while it waited for its connection), so it counts in ``unsent``.
Send = Callable[[dict[str, Any], int], Awaitable[bool]]


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
        self._cap = max_concurrency or 0
        self._blocks = schedule.shard(*shard) if shard else schedule.blocks()
        self._block: np.ndarray = np.empty(0, dtype=np.int64)
        self._index = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._exhausted: asyncio.Future[None] | None = None
        self._timer: HRTimer | None = None
        self._held = False  # the dispatcher waits for a send to end (at the cap), not a timer
        self._stopped = False
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
        """End the dispatch now (sends already launched go on; the runner drains or cancels
        them). The sends already due but held back by the cap are counted in ``unsent``."""
        if self._timer is not None:
            self._timer.cancel()
        if not self._stopped and self.start_ns:
            self._stopped = True
            self.unsent += self._overdue(now_ns() - self.start_ns)
        if self._exhausted is not None and not self._exhausted.done():
            self._exhausted.set_result(None)

    # -- the dispatcher ---------------------------------------------------------------------
    def _dispatch(self, adapt: bool = True) -> None:
        """Launch every send that is due, as long as fewer than the cap are in flight; arm the
        timer for the next. At the cap it waits: the next send to end calls it again
        (``_ended``), and the sends it then launches late are not used to learn the head
        start (they were held, not woken late)."""
        start = self.start_ns
        loop = asyncio.get_running_loop()
        cap = self._cap
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
            if cap and len(self._tasks) >= cap:
                self._held = True
                return
            due = start + int(self._block[self._index])
            launch_at = due - self._head_start_ns
            if launch_at - now_ns() > EARLY_NS:
                self._timer.call_at(launch_at, self._dispatch)  # type: ignore[union-attr]
                return
            self._index += 1
            self.scheduled += 1
            task = loop.create_task(self._one(next(self._payloads), due, adapt))
            self._tasks.add(task)
            task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task[None]) -> None:
        """A send ended: its slot is free; a dispatcher held at the cap goes on."""
        self._tasks.discard(task)
        if self._held and not self._stopped:
            self._held = False
            self._dispatch(adapt=False)

    def _overdue(self, elapsed_ns: int) -> int:
        """Sends of the schedule due by ``elapsed_ns`` and not launched (consumes them)."""
        count = 0
        while True:
            left = self._block[self._index :]
            due = int(np.searchsorted(left, elapsed_ns, side="right"))
            count += due
            self._index += due
            if due < left.size:
                return count
            block = next(self._blocks, None)
            if block is None:
                return count
            self._block, self._index = block, 0

    def _adapt(self, due_ns: int) -> None:
        """Learn how late a launched send starts: move the head start a tenth of the way
        towards making this one start on time."""
        late = now_ns() - due_ns
        head = self._head_start_ns + late // 10
        self._head_start_ns = 0 if head < 0 else min(head, MAX_HEAD_START_NS)

    async def _one(self, payload: dict[str, Any], due_ns: int, adapt: bool) -> None:
        if adapt:
            self._adapt(due_ns)
        if self._stopping():
            self.unsent += 1
            return
        self.sent += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight
        try:
            if not await self._send(payload, due_ns):  # the run ended before it was written
                self.sent -= 1
                self.unsent += 1
        finally:
            self.in_flight -= 1
