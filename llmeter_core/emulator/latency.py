"""The latency model: per-request sampling of TTFT, inter-token latency and output length.

Pure functions over a ``random.Random``; no I/O. Token ``i`` (0-based) of a request is due at
``start + ttft + i * itl`` on the emulator's clock (``now``), computed from the request's start
rather than by adding sleeps one after another, so scheduling jitter never accumulates
(``wait_until``). A request whose tokens are all due already is never put to sleep, which is
what makes a zero-latency emulator cheap enough to benchmark a client against.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from dataclasses import dataclass

from llmeter_core.emulator.config import DistSpec, EmulatorConfig

__all__ = ["sample", "Schedule", "plan_schedule", "wait_until", "now"]

#: The emulator's clock for every ground-truth stamp and deadline: ``CLOCK_MONOTONIC`` to the
#: nanosecond. It is what asyncio's ``loop.time()`` reads, and what uvloop's reads to the
#: millisecond only (libuv's ``uv_now``), which would put the truth up to 1 ms off on uvloop.
#: Clients on this machine read the same clock (``perf_counter``), so times compare across
#: processes.
now = time.monotonic


def sample(spec: DistSpec, rng: random.Random) -> float:
    """One draw from a number or distribution spec (see ``config``), clipped at 0 and min/max."""
    if not isinstance(spec, dict):
        return float(spec)
    kind = spec["dist"]
    if kind == "fixed":
        value = float(spec["value"])
    elif kind == "normal":
        value = rng.gauss(spec["mean"], spec["std"])
    elif kind == "uniform":
        value = rng.uniform(spec["low"], spec["high"])
    else:  # lognormal
        value = rng.lognormvariate(math.log(spec["median"]), spec["sigma"])
    if "min" in spec:
        value = max(value, spec["min"])
    if "max" in spec:
        value = min(value, spec["max"])
    return max(value, 0.0)


@dataclass(slots=True, frozen=True)
class Schedule:
    """What one request will be served: delays in seconds and the token count.

    ``first_byte_s`` is an extra delay before the response starts (the slow-first-byte
    fault); it is included in ``ttft_s``. ``truncated`` is True when the client's max-tokens
    cap cut the sampled length (finish reason "length").
    """

    ttft_s: float
    itl_s: float
    n_tokens: int
    truncated: bool
    first_byte_s: float = 0.0

    def due(self, index: int) -> float:
        """Offset from the request's start at which token ``index`` is due."""
        return self.ttft_s + index * self.itl_s


def plan_schedule(
    config: EmulatorConfig,
    rng: random.Random,
    max_tokens: int | None,
    first_byte_s: float = 0.0,
) -> Schedule:
    """Draw TTFT, ITL and length for one request and apply the client's token cap.

    At least one token is always served, even when ``max_tokens`` is 0 or the draw rounds to 0,
    so every successful response has a first token to time. ``config.latency_scale``
    multiplies both latencies after the draw (the random sequence is the same at any scale).
    """
    ttft_s = sample(config.ttft_ms, rng) * config.latency_scale / 1000.0
    itl_s = sample(config.itl_ms, rng) * config.latency_scale / 1000.0
    n = max(1, int(round(sample(config.output_tokens, rng))))
    truncated = False
    if max_tokens is not None and max_tokens < n:
        n = max(1, max_tokens)
        truncated = True
    return Schedule(ttft_s + first_byte_s, itl_s, n, truncated, first_byte_s)


async def wait_until(deadline: float) -> None:
    """Sleep until ``now()`` reaches ``deadline``; return at once if it has."""
    delay = deadline - now()
    if delay > 0:
        await asyncio.sleep(delay)
