"""What kind of load a run sends: closed-loop clients, or an open-loop rate.

- **Closed loop** (``clients``): N clients, each sending its next request when its last one
  ends. It answers "what latency at concurrency N"; when the endpoint slows, the clients slow
  with it and the offered load drops.
- **Open loop** (``rate``): requests sent at ``rate`` per second on a schedule fixed before the
  run (``schedule.py``), whatever the endpoint does. It answers "what latency at R requests
  per second". ``arrival`` is ``constant``, ``poisson`` or ``gamma`` (with ``burstiness``),
  ``ramp_up`` raises the rate linearly from 0 over that many seconds, ``max_concurrency``
  caps the requests in flight (a send that would exceed it waits, and the wait is its
  dispatch delay), and ``warmup_seconds`` sends the schedule for that long first, discarded.
  ``n_requests`` counts the whole run's requests (closed loop: per client, as LLMeter).
- ``stagger`` (closed loop): the clients' first sends are spread over that many seconds
  instead of all at once (LLMeter's start, the default 0). With replies of equal length,
  clients started together stay in lockstep and reach the server as bursts; staggered
  starts spread them out. ``client_start_offsets`` are seeded (``seed``): each client gets
  one of ``clients`` equal slots of the window, in a seeded order, at a seeded point in it.

``LoadPlan.build`` checks every option of both kinds and reports every problem at once, with
its field name, before anything is sent (one home for these rules: the Runner, spec files and
flow parameters all come through it).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from .bounds import Bound, make_bound
from .checks import MAX_CLIENTS, Problems, check_int
from .errors import ConfigError
from .schedule import ARRIVALS, Schedule

__all__ = ["LoadPlan", "MAX_RATE", "OPEN_LOOP_ONLY", "combination_problems", "start_offsets"]

#: Highest rate one load-generator process is allowed to be asked for (req/s).
MAX_RATE = 100_000.0


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


@dataclass(frozen=True)
class LoadPlan:
    """The checked load options of one run; ``schedule`` is None for closed loop."""

    clients: int
    bound: Bound
    schedule: Schedule | None = None
    max_concurrency: int | None = None
    warmup_seconds: float = 0.0
    #: Closed loop: seconds in which the clients' first sends are spread (0: all at once).
    stagger: float = 0.0
    #: Closed loop: when each client sends its first request, seconds after the run starts.
    client_start_offsets: tuple[float, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        clients: int | None,
        rate: float | None,
        arrival: str = "constant",
        burstiness: float | None = None,
        ramp_up: float = 0.0,
        max_concurrency: int | None = None,
        warmup_requests: int = 0,
        warmup_seconds: float = 0.0,
        n_requests: int | None = None,
        run_duration: float | timedelta | None = None,
        seed: int = 0,
        stagger: float = 0.0,
    ) -> "LoadPlan":
        problems = Problems()
        for field, message in combination_problems(
            dict(
                clients=clients,
                rate=rate,
                arrival=arrival,
                burstiness=burstiness,
                ramp_up=ramp_up,
                max_concurrency=max_concurrency,
                warmup_requests=warmup_requests,
                warmup_seconds=warmup_seconds,
                run_duration=run_duration,
                stagger=stagger,
            )
        ):
            problems.add(field, message)
        if rate is None:
            clients = 1 if clients is None else clients
            with problems.collect():
                check_int("clients", clients, minimum=1, maximum=MAX_CLIENTS)
            bound = _bound(
                problems, clients if isinstance(clients, int) and clients >= 1 else 1, n_requests, run_duration
            )
            if not _number(stagger) or stagger < 0:
                problems.add("stagger", f"must be a number of seconds >= 0, got {stagger!r}")
            problems.raise_if_any("invalid load")
            return cls(
                clients=int(clients),
                bound=bound,
                stagger=float(stagger),
                client_start_offsets=start_offsets(int(clients), float(stagger), seed),
            )

        if not _number(rate) or rate <= 0:
            problems.add("rate", f"must be a positive number of requests per second, got {rate!r}")
        elif rate > MAX_RATE:
            problems.add("rate", f"must be at most {MAX_RATE:,.0f} req/s per process, got {rate!r}")
        if arrival not in ARRIVALS:
            problems.add("arrival", f"must be one of {', '.join(ARRIVALS)}, got {arrival!r}")
        if burstiness is not None and (not _number(burstiness) or burstiness <= 0):
            problems.add("burstiness", f"must be a positive number, got {burstiness!r}")
        bound = _bound(problems, 1, n_requests, run_duration)
        seconds = bound.run_duration if bound is not None else None
        if not _number(ramp_up) or ramp_up < 0:
            problems.add("ramp_up", f"must be a number of seconds >= 0, got {ramp_up!r}")
        if max_concurrency is not None and (
            isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int) or max_concurrency < 1
        ):
            problems.add("max_concurrency", f"must be a whole number >= 1, got {max_concurrency!r}")
        if not _number(warmup_seconds) or warmup_seconds < 0:
            problems.add("warmup_seconds", f"must be a number of seconds >= 0, got {warmup_seconds!r}")
        problems.raise_if_any("invalid load")
        schedule = Schedule(
            rate=float(rate),
            arrival=arrival,
            burstiness=None if burstiness is None else float(burstiness),
            ramp_up_s=float(ramp_up),
            seed=seed,
            n_requests=bound.expected_requests,
            duration_s=seconds,
        )
        return cls(
            clients=1,
            bound=bound,
            schedule=schedule,
            max_concurrency=max_concurrency,
            warmup_seconds=float(warmup_seconds),
        )

    # -- what it means ----------------------------------------------------------------------
    def connections(self) -> int:
        """How many connections to open before the first request: one per client, or for a
        rate, one second's worth of sends (what is in flight while responses take up to a
        second), at most ``max_concurrency`` (the endpoint caps it further)."""
        s = self.schedule
        if s is None:
            return self.clients
        estimate = max(1, math.ceil(s.rate))
        return min(estimate, self.max_concurrency) if self.max_concurrency else estimate

    def warmup_schedule(self) -> Schedule | None:
        """The warm-up of an open-loop run: the same process for ``warmup_seconds`` (another
        seed, so the measured schedule is unchanged by it)."""
        if self.schedule is None or not self.warmup_seconds:
            return None
        s = self.schedule
        return Schedule(
            rate=s.rate,
            arrival=s.arrival,
            burstiness=s.burstiness,
            ramp_up_s=0.0,
            seed=s.seed + 7919,
            duration_s=self.warmup_seconds,
        )

    def offered_rate(self) -> float | None:
        """The rate the schedule offers, averaged over the run (the ramp included)."""
        s = self.schedule
        if s is None:
            return None
        if s.duration_s is not None:
            return s.offered_rate(s.duration_s)
        return s.rate if not s.ramp_up_s else None

    def to_config(self) -> dict[str, Any]:
        """run_config.json keys of the load: the mode and every open-loop option (closed
        loop: their defaults), named as the Runner's options."""
        s = self.schedule
        return {
            "load_mode": "clients" if s is None else "rate",
            "rate": None if s is None else s.rate,
            "arrival": "constant" if s is None else s.arrival,
            "burstiness": None if s is None else s.burstiness,
            "ramp_up": 0.0 if s is None else s.ramp_up_s,
            "max_concurrency": self.max_concurrency,
            "warmup_seconds": self.warmup_seconds,
            "stagger": self.stagger,
            **({"client_start_offsets": list(self.client_start_offsets)} if self.stagger else {}),
        }


def start_offsets(clients: int, stagger: float, seed: int) -> tuple[float, ...]:
    """Each closed-loop client's first send, seconds after the start: all 0 without
    ``stagger``; else client ``c`` is at a seeded point of its own slot (``stagger / clients``
    wide; slots dealt in a seeded order), so the starts cover the window evenly but are not
    a regular grid that equal replies would keep in step."""
    if not stagger:
        return (0.0,) * clients
    rng = random.Random(f"stagger-{seed}")
    slots = list(range(clients))
    rng.shuffle(slots)
    width = stagger / clients
    return tuple((slot + rng.random()) * width for slot in slots)


#: Options that only an open-loop run takes, with their defaults.
OPEN_LOOP_ONLY = {
    "arrival": "constant",
    "burstiness": None,
    "ramp_up": 0.0,
    "max_concurrency": None,
    "warmup_seconds": 0.0,
}


def combination_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules between load options (the one home for them: the Runner and spec files both
    ask here). ``values`` holds the options as given; a missing one has its default."""
    rate, clients = values.get("rate"), values.get("clients")
    arrival, burstiness = values.get("arrival", "constant"), values.get("burstiness")
    out: list[tuple[str, str]] = []
    if rate is None:
        for name, default in OPEN_LOOP_ONLY.items():
            if values.get(name, default) not in (default, None) or (default is None and values.get(name) is not None):
                out.append((name, "applies to open-loop runs only: give load.rate instead of clients"))
        stagger, duration = values.get("stagger") or 0, values.get("run_duration")
        if isinstance(duration, timedelta):
            duration = duration.total_seconds()
        if _number(stagger) and stagger > 0 and _number(duration) and stagger >= duration:  # type: ignore[operator]
            out.append(("stagger", f"{stagger} s is not shorter than the run ({duration} s)"))
        return out
    if clients is not None:
        out.append(("rate", "give either clients (closed loop) or rate (open loop), not both"))
    if arrival == "gamma" and burstiness is None:
        out.append(("burstiness", "arrival: gamma needs burstiness (the gamma shape: 1 is Poisson, < 1 burstier)"))
    elif arrival != "gamma" and burstiness is not None:
        out.append(("burstiness", "applies to arrival: gamma only"))
    ramp, duration = values.get("ramp_up") or 0, values.get("run_duration")
    if isinstance(duration, timedelta):
        duration = duration.total_seconds()
    if _number(ramp) and _number(duration) and ramp > duration:  # type: ignore[operator]
        out.append(("ramp_up", f"{ramp} s is longer than the run ({duration} s)"))
    if values.get("warmup_requests"):
        out.append(("warmup_requests", "closed-loop only: an open-loop run warms up with warmup_seconds"))
    if values.get("stagger"):
        out.append(("stagger", "closed-loop only: an open-loop schedule sets its own send times (see ramp_up)"))
    return out


def _bound(problems: Problems, clients: int, n_requests: Any, run_duration: Any) -> Bound:
    """The run's stop condition (``bounds.make_bound``: the one home of the count-or-duration
    rule); its problem joins the others."""
    try:
        return make_bound(clients, n_requests, run_duration)
    except ConfigError as exc:
        problems.add_error(exc)
        return None  # type: ignore[return-value]  # _raise follows
