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

``shards`` splits one run over that many load-generator processes (``shards.py`` runs one,
``shard_merge.py`` merges them): closed-loop clients are dealt out evenly (shard ``k`` runs the
clients ``k, k + N, ...`` of the whole run, so each keeps its own payload order), an open-loop
schedule is partitioned exactly (shard ``k`` sends every ``N``-th send of the one schedule of
the run, ``Schedule.shard``), and ``max_concurrency`` is dealt out like clients. A ``LoadPlan``
with ``shard_index`` set is the part of the run that one shard sends. ``shard_pool`` names the
Prefect work pool the shards run on (the flows' business; here only its rules).

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

__all__ = ["LoadPlan", "MAX_RATE", "MAX_SHARDS", "OPEN_LOOP_ONLY", "combination_problems", "share", "start_offsets"]

#: Highest rate one run is allowed to be asked for (req/s).
MAX_RATE = 100_000.0
#: Most load-generator shards of one run.
MAX_SHARDS = 1000


def share(total: int, index: int, count: int) -> int:
    """Shard ``index``'s part of ``total`` items dealt out one by one to ``count`` shards."""
    return total // count + (1 if index < total % count else 0)


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
    shard_index: int = 0
    shard_count: int = 1

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
        shards: int = 1,
        shard_index: int | None = None,
    ) -> "LoadPlan":
        """The plan of a whole run (``shard_index`` None, ``shards`` 1) or of shard
        ``shard_index`` of ``shards`` (a Runner is one process: ``shards`` > 1 needs the index)."""
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
                shards=shards,
            )
        ):
            problems.add(field, message)
        count = shards if _whole(shards) and 1 <= shards <= MAX_SHARDS else 1
        if shard_index is None and count > 1:
            problems.add(
                "shards",
                "a Runner is one load-generator process: give shard_index (the shard it runs), or run the "
                "shards with llmeter-flows (llmeter-flows run, or a flow)",
            )
        index = 0 if shard_index is None else shard_index
        if shard_index is not None and not (_whole(shard_index) and 0 <= shard_index < count):
            problems.add("shard_index", f"must be a whole number from 0 to {count - 1}, got {shard_index!r}")
            index = 0
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
                clients=share(int(clients), index, count),
                bound=bound,
                stagger=float(stagger),
                client_start_offsets=start_offsets(int(clients), float(stagger), seed),
                shard_index=index,
                shard_count=count,
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
            max_concurrency=share(max_concurrency, index, count) if max_concurrency else None,
            warmup_seconds=float(warmup_seconds),
            shard_index=index,
            shard_count=count,
        )

    # -- what it means ----------------------------------------------------------------------
    @property
    def shard(self) -> tuple[int, int] | None:
        """``(index, count)`` of a shard of a sharded run, None for a run in one process."""
        return (self.shard_index, self.shard_count) if self.shard_count > 1 else None

    def client_ids(self) -> range:
        """The run-wide numbers of this process's closed-loop clients (each client's payload
        order is seeded by its number, so a sharded run sends what one process would)."""
        return range(self.shard_index, self.shard_index + self.shard_count * self.clients, self.shard_count)

    def connections(self) -> int:
        """How many connections to open before the first request: one per client, or for a
        rate, one second's worth of sends (what is in flight while responses take up to a
        second), at most ``max_concurrency`` (the endpoint caps it further)."""
        s = self.schedule
        if s is None:
            return self.clients
        estimate = max(1, math.ceil(s.rate / self.shard_count))
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
        """The rate the schedule offers this process, averaged over the run (the ramp
        included): a shard's share of the run's rate."""
        s = self.schedule
        if s is None:
            return None
        if s.duration_s is not None:
            return s.offered_rate(s.duration_s) / self.shard_count
        return s.rate / self.shard_count if not s.ramp_up_s else None

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
            "shards": self.shard_count,
            "shard_index": self.shard_index if self.shard_count > 1 else None,
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
        return out + shard_problems(values)
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
    return out + shard_problems(values)


def shard_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """The rules of ``shards`` and ``shard_pool`` (part of ``combination_problems``)."""
    shards, pool = values.get("shards", 1), values.get("shard_pool")
    if shards is None:
        shards = 1
    if not _whole(shards) or not 1 <= shards <= MAX_SHARDS:
        return [("shards", f"must be a whole number from 1 to {MAX_SHARDS}, got {shards!r}")]
    out: list[tuple[str, str]] = []
    if pool is not None:
        if not isinstance(pool, str) or not pool.strip():
            out.append(("shard_pool", f"must be the name of a Prefect work pool, got {pool!r}"))
        elif shards < 2:
            out.append(("shard_pool", "applies to sharded runs only: give load.shards (2 or more) too"))
    if shards < 2:
        return out
    clients, rate, cap = values.get("clients"), values.get("rate"), values.get("max_concurrency")
    if rate is None and _whole(clients) and clients < shards:
        out.append(("shards", f"{shards} shards need at least {shards} clients (one each), got clients: {clients}"))
    if rate is None and clients is None:
        out.append(("shards", f"{shards} shards need clients (at least {shards}) or a rate to share"))
    if rate is not None and _whole(cap) and cap < shards:
        out.append(("max_concurrency", f"{cap} is less than one request in flight per shard ({shards} shards)"))
    return out


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _bound(problems: Problems, clients: int, n_requests: Any, run_duration: Any) -> Bound:
    """The run's stop condition (``bounds.make_bound``: the one home of the count-or-duration
    rule); its problem joins the others."""
    try:
        return make_bound(clients, n_requests, run_duration)
    except ConfigError as exc:
        problems.add_error(exc)
        return None  # type: ignore[return-value]  # _raise follows
