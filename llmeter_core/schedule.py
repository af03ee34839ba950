"""Open-loop send schedules: when each request of a rate run is sent.

A schedule is a sequence of *offsets* (nanoseconds after the run's start), decided before the
run from the seed alone, never from how the endpoint answers: a late send does not move the
ones after it (an absolute schedule, not sleep-between-requests), so a slow endpoint cannot
lower the offered load (coordinated omission).

How offsets are made (the time-change construction of a non-homogeneous renewal process):

1. Inter-arrival gaps of a process with rate 1 are drawn from the seeded generator:
   ``constant`` (every gap 1), ``poisson`` (exponential, mean 1) or ``gamma`` (shape
   ``burstiness``, scale ``1/burstiness``: mean 1, coefficient of variation
   ``1/sqrt(burstiness)``; vllm bench serve's definition: 1 is Poisson, < 1 burstier,
   > 1 smoother). The first send is at operational time 0.
2. Their cumulative sums ``u`` (in "requests") are mapped to wall time through the inverse of
   the cumulative rate ``L(t) = integral of rate(s) ds``: with ``ramp_up = R`` the rate rises
   linearly from 0 to ``rate`` over ``R`` seconds (``L(t) = rate t^2 / 2R`` for ``t < R``), then
   stays at ``rate``. Without a ramp ``t = u / rate``.

Gaps are drawn in fixed blocks of ``BLOCK`` from one ``numpy.random.Generator``, so the same
seed gives the same offsets however far a run reads (a duration-bound run reads until the
offsets pass its duration) and memory stays flat on long runs. A shard of a run takes every
``n``-th offset of the one schedule (``shard``), so shards together send exactly the asked
process.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator

import numpy as np

__all__ = ["ARRIVALS", "BLOCK", "Schedule"]

#: Arrival processes of ``load.arrival``.
ARRIVALS = ("constant", "poisson", "gamma")
#: Offsets are drawn this many at a time.
BLOCK = 4096


@dataclass(frozen=True)
class Schedule:
    """The send times of one rate run. ``n_requests`` or ``duration_s`` (or both) ends it."""

    rate: float
    arrival: str = "constant"
    burstiness: float | None = None
    ramp_up_s: float = 0.0
    seed: int = 0
    n_requests: int | None = None
    duration_s: float | None = None

    def __post_init__(self) -> None:
        if self.arrival not in ARRIVALS:
            raise ValueError(f"arrival must be one of {', '.join(ARRIVALS)}, got {self.arrival!r}")
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate must be a positive finite number, got {self.rate!r}")
        if (self.burstiness is not None) != (self.arrival == "gamma"):
            raise ValueError("burstiness goes with arrival: gamma (and gamma needs it)")
        if self.burstiness is not None and not (self.burstiness > 0 and math.isfinite(self.burstiness)):
            raise ValueError(f"burstiness must be a positive number, got {self.burstiness!r}")
        if self.n_requests is None and self.duration_s is None:
            raise ValueError("a schedule needs n_requests or duration_s")

    # -- offsets -------------------------------------------------------------------------
    def blocks(self) -> Iterator[np.ndarray]:
        """Offsets in nanoseconds (int64), ``BLOCK`` at a time, until the schedule ends."""
        rng = np.random.default_rng(self.seed)
        left = self.n_requests
        u0 = 0.0
        limit_ns = None if self.duration_s is None else int(self.duration_s * 1e9)
        while left is None or left > 0:
            gaps = self._gaps(rng)
            u = np.empty(BLOCK, dtype=float)
            u[0] = u0
            np.cumsum(gaps[:-1], out=u[1:])
            u[1:] += u0
            u0 = u[-1] + gaps[-1]
            offsets = np.rint(self._wall_seconds(u) * 1e9).astype(np.int64)
            if left is not None:
                offsets = offsets[:left]
                left -= offsets.size
            if limit_ns is not None:
                cut = int(np.searchsorted(offsets, limit_ns, side="left"))
                if cut < offsets.size:
                    if cut:
                        yield offsets[:cut]
                    return
            yield offsets

    def offsets(self) -> np.ndarray:
        """Every offset at once (for tests, planning and small runs)."""
        parts = list(self.blocks())
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def shard(self, index: int, count: int) -> Iterator[np.ndarray]:
        """The offsets of shard ``index`` of ``count``: every ``count``-th send of the schedule."""
        if not 0 <= index < count:
            raise ValueError(f"shard index {index} out of range for {count} shards")
        position = 0
        for block in self.blocks():
            first = (index - position) % count
            yield block[first::count]
            position += block.size

    @property
    def expected_requests(self) -> int | None:
        """How many sends the schedule holds, when known without drawing it."""
        if self.n_requests is not None:
            return self.n_requests
        return None

    def offered_rate(self, window_s: float) -> float:
        """Mean offered rate over the first ``window_s`` seconds (the ramp included)."""
        ramp = min(self.ramp_up_s, window_s)
        sent = self.rate * ramp * ramp / (2 * self.ramp_up_s) if self.ramp_up_s else 0.0
        sent += self.rate * (window_s - ramp)
        return sent / window_s if window_s > 0 else self.rate

    # -- pieces --------------------------------------------------------------------------
    def _gaps(self, rng: np.random.Generator) -> np.ndarray:
        if self.arrival == "constant":
            return np.ones(BLOCK)
        if self.arrival == "poisson":
            return rng.exponential(1.0, BLOCK)
        shape = float(self.burstiness)  # type: ignore[arg-type]
        return rng.gamma(shape, 1.0 / shape, BLOCK)

    def _wall_seconds(self, u: np.ndarray) -> np.ndarray:
        """Invert the cumulative rate: operational time (requests) -> seconds."""
        rate, ramp = self.rate, self.ramp_up_s
        if not ramp:
            return u / rate
        in_ramp = rate * ramp / 2  # requests sent while the rate ramps up
        return np.where(u < in_ramp, np.sqrt(2 * ramp * np.maximum(u, 0) / rate), ramp + (u - in_ramp) / rate)
