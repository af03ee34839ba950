"""The capacity search: the highest offered load whose run passes an SLO.

Pure rules, no I/O and no Prefect: ``CapacitySearch`` says which load to probe next and,
once it stops, what was found. Whoever runs the probes (``flows/capacity.py``, or a test
with a plain ``Runner``) loops::

    search = CapacitySearch(settings, mode="rate")
    while (load := search.next_load(elapsed_s)) is not None:
        stats = <one run at that load>.stats
        search.record(judge(load, stats, settings, "rate", run_folder, seconds))
    outcome = search.outcome()

How it searches (the rules users read in the README):

1. **Growth**: from ``start``, multiply the load by ``growth`` (2) after every pass, up to
   ``max_load``. A pass at ``max_load`` ends the search: "at least max_load". A fail at
   ``start`` ends it: "below start". Never a made-up number.
2. **Bisection** between the highest load that passed and the lowest that failed, at their
   geometric mean (the precision asked is relative), until ``hi / lo - 1 <= precision``
   (10%; for clients, also when they are 1 apart). The capacity is ``lo``; the bracket
   ``[lo, hi]`` is reported with it.
3. **Repeats**: near the boundary a probe can pass by luck. A passing probe whose attainment
   is within ``repeat_margin`` of the SLO's target is run again (``repeats`` more times); a
   load passes only if all its probes passed.
4. **Stops**: a rate probe whose achieved rate is below ``min_achieved_ratio`` (90%) of the
   offered rate is saturated and fails, whatever its latencies. A probe the generator judged
   ``client_bound`` ends the search (the client, not the endpoint, was the limit: add shards).
   The budget, ``max_probes`` and ``max_seconds``, ends it too, with the bracket so far.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .checks import MAX_CLIENTS
from .load_plan import MAX_RATE
from .slo import slo_metric
from .stats import PERCENTILES

__all__ = ["CapacitySpec", "CapacitySearch", "Probe", "Outcome", "judge", "SearchMode", "STATUSES"]

SearchMode = Literal["rate", "clients"]

#: How a search ended: ``found`` (bracket within precision), ``at_least`` (passed at its
#: ceiling), ``below`` (failed at its floor), ``client_bound``, ``budget``, ``interrupted``.
STATUSES = ("found", "at_least", "below", "client_bound", "budget", "interrupted")


class CapacitySpec(BaseModel):
    """How a capacity search grows, bisects, repeats and stops (``capacity:`` in a suite)."""

    model_config = ConfigDict(extra="forbid")

    start: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="First load probed (default 1 req/s, or 1 client)"
    )
    max_load: float | None = Field(
        None,
        gt=0,
        allow_inf_nan=False,
        description=f"Ceiling: highest load probed (default 1,024 req/s, or 256 clients; at most {MAX_RATE:,.0f} "
        f"req/s or {MAX_CLIENTS:,} clients)",
    )
    growth: float = Field(2.0, gt=1, le=100, allow_inf_nan=False, description="Load factor between growth probes")
    precision: float = Field(
        0.10, gt=0, le=1, allow_inf_nan=False, description="Relative width of the final bracket [pass, fail]"
    )
    max_probes: int = Field(12, ge=1, le=1000, strict=True, description="Most probes per endpoint")
    max_seconds: float | None = Field(
        None, gt=0, allow_inf_nan=False, description="Most seconds of probing per endpoint (default: no limit)"
    )
    repeat_margin: float = Field(
        0.05, ge=0, le=1, allow_inf_nan=False, description="Repeat a pass whose attainment is this close to the target"
    )
    repeats: int = Field(1, ge=0, le=10, strict=True, description="Extra probes at a load that passed near the target")
    min_achieved_ratio: float = Field(
        0.9, gt=0, le=1, allow_inf_nan=False, description="A rate probe achieving less of its offered rate is saturated"
    )
    stop_on_client_bound: bool = Field(
        True, strict=True, description="End the search when the load generator was the bottleneck"
    )

    def bounds(self, mode: SearchMode) -> tuple[float, float]:
        """(start, max_load) for the mode, defaults filled in (clients: whole numbers)."""
        start = self.start if self.start is not None else 1.0
        ceiling = self.max_load if self.max_load is not None else (1024.0 if mode == "rate" else 256.0)
        if mode == "clients":
            start, ceiling = float(max(1, round(start))), float(min(MAX_CLIENTS, round(ceiling)))
        return start, min(ceiling, MAX_RATE)

    def problems(self, mode: SearchMode) -> list[tuple[str, str]]:
        """What does not fit the mode or each other (field, message): client counts that are
        not whole numbers, loads beyond one process's limits, a start above the ceiling."""
        out = []
        limit = MAX_RATE if mode == "rate" else MAX_CLIENTS
        for name in ("start", "max_load"):
            value = getattr(self, name)
            if value is None:
                continue
            if mode == "clients" and not float(value).is_integer():
                out.append((f"capacity.{name}", f"search: clients takes whole client counts, got {value:g}"))
            if value > limit:
                unit = "req/s" if mode == "rate" else "clients"
                out.append((f"capacity.{name}", f"must be at most {limit:,.0f} {unit} (one process), got {value:g}"))
        start, ceiling = self.bounds(mode)
        if start > ceiling:
            out.append(("capacity.start", f"{start:g} is above capacity.max_load ({ceiling:g})"))
        return out


@dataclass
class Probe:
    """One run of the search, as judged."""

    load: float
    passed: bool
    attainment: float | None = None
    offered_rate: float | None = None
    achieved_rate: float | None = None
    goodput: float | None = None
    slo_passed: bool | None = None
    saturated: bool = False
    client_bound: bool = False
    reason: str | None = None
    run_folder: str | None = None
    seconds: float = 0.0
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def judge(
    load: float,
    stats: dict[str, Any],
    settings: CapacitySpec,
    mode: SearchMode,
    run_folder: str | None = None,
    seconds: float = 0.0,
) -> Probe:
    """A probe from its run's stats: the SLO verdict (``slo_passed``), saturation (a rate run
    achieving less than ``min_achieved_ratio`` of its offered rate) and the generator's verdict."""
    offered = stats.get("offered_rate") if mode == "rate" else None
    achieved = stats.get("achieved_rate") if mode == "rate" else None
    if achieved is None and stats.get("requests_per_minute"):
        achieved = stats["requests_per_minute"] / 60.0
    reasons = [stats["slo_failed_reason"]] if stats.get("slo_failed_reason") else []
    saturated = bool(mode == "rate" and offered and (achieved or 0.0) < settings.min_achieved_ratio * offered)
    if saturated:
        reasons.append(
            f"saturated: achieved {achieved or 0:.1f} of {offered:.1f} req/s offered "
            f"(< {settings.min_achieved_ratio:.0%})"
        )
    client_bound = bool(stats.get("client_bound"))
    if client_bound:
        reasons.append(f"client-bound: {stats.get('client_bound_reason')}")
    metrics = {k: v for k, v in stats.items() if k.startswith("slo_observed_")}
    for key in list(metrics):  # and the SLO metrics' usual percentiles
        metric = slo_metric(key.removeprefix("slo_observed_"), open_loop=mode == "rate")
        metrics.update({f"{metric}-p{q}": stats.get(f"{metric}-p{q}") for q in PERCENTILES})
    slo_passed = stats.get("slo_passed")
    return Probe(
        load=load,
        passed=bool(slo_passed) and not saturated,
        attainment=stats.get("slo_attainment"),
        offered_rate=offered,
        achieved_rate=achieved,
        goodput=stats.get("goodput"),
        slo_passed=slo_passed,
        saturated=saturated,
        client_bound=client_bound,
        reason="; ".join(reasons) or None,
        run_folder=run_folder,
        seconds=seconds,
        metrics=metrics,
    )


@dataclass
class Outcome:
    """What a search found: ``capacity`` is the highest load that passed all its probes (None
    when none did); ``bracket`` is [highest pass, lowest fail], either end None if unknown."""

    status: str
    capacity: float | None
    highest_pass: float | None
    lowest_fail: float | None
    answer: str
    reason: str
    probes: list[Probe]

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "capacity": self.capacity,
            "answer": self.answer,
            "reason": self.reason,
            "bracket": {"highest_pass": self.highest_pass, "lowest_fail": self.lowest_fail},
            "probes": [p.to_json() for p in self.probes],
        }


class CapacitySearch:
    """The search's state: call ``next_load`` for the load to probe (None: done), ``record``
    each probe's verdict, then ``outcome``."""

    def __init__(self, settings: CapacitySpec, mode: SearchMode, target: float = 0.9):
        self.settings = settings
        self.mode = mode
        self.target = target
        self.start, self.ceiling = settings.bounds(mode)
        self.probes: list[Probe] = []
        self.status: str | None = None
        self._stop_reason = ""

    # -- the bracket --------------------------------------------------------------------------
    def _verdicts(self) -> dict[float, bool]:
        """Each load probed -> passed all its probes (client-bound probes judge nothing)."""
        out: dict[float, bool] = {}
        for p in self.probes:
            if p.client_bound and self.settings.stop_on_client_bound:
                continue
            out[p.load] = out.get(p.load, True) and p.passed
        return out

    @property
    def highest_pass(self) -> float | None:
        verdicts = self._verdicts()
        fail = self.lowest_fail
        passes = [load for load, ok in verdicts.items() if ok and (fail is None or load < fail)]
        return max(passes) if passes else None

    @property
    def lowest_fail(self) -> float | None:
        fails = [load for load, ok in self._verdicts().items() if not ok]
        return min(fails) if fails else None

    # -- the rules ------------------------------------------------------------------------------
    def record(self, probe: Probe) -> None:
        self.probes.append(probe)

    def stop(self, status: str, reason: str) -> None:
        """End the search from outside (``interrupted``)."""
        self.status, self._stop_reason = status, reason

    def next_load(self, elapsed_s: float = 0.0) -> float | None:
        """The next load to probe, or None when the search is over (``status`` says why)."""
        if self.status is not None:
            return None
        if not self.probes:
            return self.start
        last = self.probes[-1]
        if last.client_bound and self.settings.stop_on_client_bound:
            return self._end("client_bound", f"the load generator was the limit at {self._fmt(last.load)}")
        load = self._proposal(last)
        if load is None:
            return None
        s = self.settings
        if len(self.probes) >= s.max_probes:
            return self._end("budget", f"max_probes ({s.max_probes}) reached")
        mean_s = sum(p.seconds for p in self.probes) / len(self.probes)
        if s.max_seconds is not None and elapsed_s + mean_s > s.max_seconds:
            return self._end("budget", f"max_seconds ({s.max_seconds:g}) would be exceeded by another probe")
        return load

    def _proposal(self, last: Probe) -> float | None:
        s = self.settings
        at_last = [p for p in self.probes if p.load == last.load]
        if (
            last.passed
            and all(p.passed for p in at_last)
            and len(at_last) <= s.repeats
            and last.attainment is not None
            and abs(last.attainment - self.target) <= s.repeat_margin
        ):
            return last.load  # a pass near the boundary: run it again before believing it
        lo, hi = self.highest_pass, self.lowest_fail
        if hi is None:  # still growing
            if lo is not None and lo >= self.ceiling:
                return self._end("at_least", f"passed at max_load ({self._fmt(self.ceiling)})")
            grown = self._round(min((lo or self.start) * s.growth, self.ceiling))
            return max(grown, lo + 1) if self.mode == "clients" and lo is not None else grown
        if lo is None:
            return self._end("below", f"failed at the first load probed ({self._fmt(hi)})")
        if hi / lo - 1 <= s.precision or (self.mode == "clients" and hi - lo <= 1):
            return self._end("found", f"bracket within {s.precision:.0%}")
        mid = self._round(math.sqrt(lo * hi))
        if self.mode == "clients":
            mid = min(max(mid, lo + 1), hi - 1)
        return mid

    def _round(self, load: float) -> float:
        """Clients: whole numbers; rates: three significant figures (readable run names)."""
        if self.mode == "clients":
            return float(max(1, round(load)))
        digits = max(0, 2 - int(math.floor(math.log10(load))))
        return round(load, digits)

    def _end(self, status: str, reason: str) -> float | None:
        """Record why the search ends; returns None (no next load) for ``return self._end(...)``."""
        self.status, self._stop_reason = status, reason
        return None

    def _fmt(self, load: float | None) -> str:
        if load is None:
            return "-"
        if self.mode == "clients":
            return f"{load:g} clients"
        return f"{load:g} req/s"

    # -- the answer -----------------------------------------------------------------------------
    def outcome(self) -> Outcome:
        """What was found; never a made-up number: "at least X", "below X", or X with its bracket."""
        status = self.status or "interrupted"
        lo, hi = self.highest_pass, self.lowest_fail
        reason = self._stop_reason or "stopped before the search ended"
        if status in ("found", "budget", "interrupted") and lo is not None and hi is not None:
            answer = f"{self._fmt(lo)} (bracket [{lo:g}, {hi:g}])"
        elif status == "below" or (lo is None and hi is not None):
            answer = f"below {self._fmt(hi)}"
        elif lo is not None:
            answer = f"at least {self._fmt(lo)}"
        else:
            answer = "not measured"
        if status == "client_bound":
            reason += (
                ": its numbers describe the load generator, not the endpoint; run more shards "
                "(or a bigger machine) to go higher"
            )
        return Outcome(status, lo, lo, hi, answer, reason, list(self.probes))
