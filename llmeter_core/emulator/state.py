"""Per-emulator state and the start of every request: id, fault, schedule, ground truth.

Handlers call ``EmulatorState.begin`` once they know the API, the prompt size and the
client's token cap; everything random about the request is drawn there, in a fixed order
(fault, TTFT, ITL, length), from the one seeded generator.
"""

from __future__ import annotations

import asyncio
import contextvars
import os
import random
from dataclasses import dataclass
from typing import Awaitable, Callable

from aiohttp import web

from llmeter_core.emulator.config import EmulatorConfig
from llmeter_core.emulator.faults import FaultPicker
from llmeter_core.emulator.ground_truth import GroundTruth, RequestTruth
from llmeter_core.emulator.latency import Schedule, now, plan_schedule
from llmeter_core.emulator.prefix_cache import PrefixCache
from llmeter_core.emulator.token_budget import TokenBudget

__all__ = ["EmulatorState", "Served", "STATE_KEY", "count_words", "capacity_middleware"]

#: Seconds the current request waited for a serving slot (set by ``capacity_middleware``).
_QUEUE_S: contextvars.ContextVar[float] = contextvars.ContextVar("emulator_queue_s", default=0.0)


def count_words(text: object) -> int:
    """Whitespace word count of a string (0 for anything else): the emulator's tokenizer."""
    return len(text.split()) if isinstance(text, str) else 0


@dataclass(slots=True)
class Served:
    """One request being served: its id, fault, schedule, start (``latency.now``) and record."""

    request_id: str
    fault: str | None
    schedule: Schedule
    start: float
    truth: RequestTruth


class EmulatorState:
    """Config, seeded generator, fault picker and ground truth of one emulator app."""

    def __init__(self, kind: str, config: EmulatorConfig):
        self.kind = kind
        self.config = config
        self.truth = GroundTruth(config.max_records)
        self.faults = FaultPicker(config)
        self._id_base = os.urandom(4).hex()
        self.slots = asyncio.Semaphore(config.max_concurrency) if config.max_concurrency else None
        self.token_budget: TokenBudget | None = None
        self.reset()

    def reset(self) -> None:
        """Re-seed and clear counters, so a reset emulator replays the same draws."""
        self.rng = random.Random(self.config.seed)
        config = self.config
        self.prefix_cache = (
            PrefixCache(
                config.prefix_cache_block_tokens, config.prefix_cache_max_blocks, config.prefix_cache_ttft_saving
            )
            if config.prefix_cache
            else None
        )
        self.truth.reset()
        self._next_id = 0
        tps = config.tokens_per_second
        self.token_budget = TokenBudget(tps) if tps else None

    def new_id(self, prefix: str = "") -> str:
        self._next_id += 1
        return f"{prefix}{self._id_base}{self._next_id:010x}"

    def begin(
        self,
        api: str,
        stream: bool,
        start: float,
        input_tokens: int,
        max_tokens: int | None,
        id_prefix: str = "",
        body: dict | None = None,
        read_at: float | None = None,
    ) -> Served:
        """Draw this request's fault and schedule and record it as received. ``body`` (the
        request's JSON) is what the prefix cache, when on, reads the prompt from; ``read_at``
        is when the request was read off its connection (``read_stamps.read_time``; None:
        at ``start``)."""
        config = self.config
        rng = self.rng
        fault = self.faults.pick(rng)
        first_byte_s = config.slow_first_byte_ms / 1000.0 if fault == "slow_first_byte" else 0.0
        schedule = plan_schedule(config, rng, max_tokens, first_byte_s)
        cached = min(int(config.cached_tokens), input_tokens)
        if self.prefix_cache is not None and body is not None:
            cached, schedule = self.prefix_cache.apply(body, input_tokens, schedule)
        request_id = self.new_id(id_prefix)
        truth = RequestTruth(
            request_id=request_id,
            api=api,
            stream=stream,
            input_tokens=input_tokens,
            cached_tokens=cached,
            cache_write_tokens=min(int(config.cache_write_tokens), input_tokens - cached),
            output_tokens=schedule.n_tokens,
            ttft_ms=schedule.ttft_s * 1000.0,
            itl_ms=schedule.itl_s * 1000.0,
            fault=fault,
            queue_ms=_QUEUE_S.get() * 1000.0,
            started_s=start,
            read_s=start if read_at is None else read_at,
        )
        self.truth.begin(truth)
        return Served(request_id, fault, schedule, start, truth)

    def stream_error_mode(self, family: str) -> str:
        """``drop`` or ``error``: what a disconnect fault does to a stream of this family."""
        mode = self.config.disconnect_mode
        if mode != "auto":
            return mode
        return "drop" if family == "openai" else "error"


STATE_KEY = web.AppKey("emulator_state", EmulatorState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def capacity_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count requests in flight on the API routes and, with ``max_concurrency``, make them
    wait FIFO for a serving slot before their handler (and so their latency model) starts."""
    if request.path.startswith("/emulator/"):
        return await handler(request)
    state = request.app[STATE_KEY]
    truth = state.truth
    truth.arrive()
    try:
        slots = state.slots
        if slots is None:
            return await handler(request)
        arrived = now()
        if slots.locked():
            truth.queued += 1
        async with slots:
            _QUEUE_S.set(now() - arrived)
            return await handler(request)
    finally:
        truth.leave()
