"""Stop conditions: what bounds a run, as objects the runner asks, never branches on.

A closed-loop client asks ``allows(sent_by_this_client)`` before each request; the runner asks
``run_duration`` to arm its end-of-run timer and ``progress`` for live snapshots. A new bound
(an open-loop schedule running out, an SLO breached) is another small class here.

The rule that a run has exactly one of the two bounds lives here, once: ``one_bound_problem``
(what spec files and flow parameters check, every problem at once) and ``make_bound`` (the
Runner) share it and its message. The run length is ``run_duration`` (seconds) everywhere: the
option, this bound, ``Runner.run_duration``, ``Result.run_duration`` and ``LiveSnapshot``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from .checks import MAX_REQUESTS_PER_CLIENT, MAX_RUN_DURATION_S, check_int, check_seconds, is_seconds
from .errors import ConfigError

__all__ = ["Bound", "RequestCount", "Duration", "make_bound", "one_bound_problem"]


class Bound:
    #: Requests the whole run sends, when the bound fixes it.
    expected_requests: int | None = None
    #: Seconds the run sends for, when the bound is a duration.
    run_duration: float | None = None

    def allows(self, sent_by_client: int) -> bool:
        raise NotImplementedError

    def progress(self, done: int, elapsed_s: float) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class RequestCount(Bound):
    """``n_requests`` per client (LLMeter's meaning)."""

    n_requests: int
    clients: int

    @property
    def expected_requests(self) -> int:  # type: ignore[override]
        return self.n_requests * self.clients

    def allows(self, sent_by_client: int) -> bool:
        return sent_by_client < self.n_requests

    def progress(self, done: int, elapsed_s: float) -> float:
        return min(done / self.expected_requests, 1.0)


@dataclass(frozen=True)
class Duration(Bound):
    """Send for ``run_duration`` seconds; what is in flight at the end is drained or cancelled."""

    run_duration: float

    def allows(self, sent_by_client: int) -> bool:
        return True  # the runner's deadline timer ends the run

    def progress(self, done: int, elapsed_s: float) -> float:
        return min(elapsed_s / self.run_duration, 1.0)


ONE_BOUND = "give exactly one of n_requests (per client) and run_duration"


def one_bound_problem(n_requests: object, run_duration: object) -> str | None:
    """The rule, for spec files and ``make_bound``: exactly one of the two bounds (None = not
    given). Its message, or None when the rule holds."""
    return ONE_BOUND if (n_requests is None) == (run_duration is None) else None


def make_bound(clients: int, n_requests: int | None, run_duration: float | timedelta | None) -> Bound:
    """Exactly one of ``n_requests`` and ``run_duration``, within the limits of ``checks``;
    anything else is a ConfigError."""
    problem = one_bound_problem(n_requests, run_duration)
    if problem:
        raise ConfigError("n_requests", problem)
    if n_requests is not None:
        check_int("n_requests", n_requests, minimum=1, maximum=MAX_REQUESTS_PER_CLIENT)
        return RequestCount(n_requests, clients)
    seconds = run_duration.total_seconds() if isinstance(run_duration, timedelta) else run_duration
    if not is_seconds(seconds):
        raise ConfigError(
            "run_duration", f"must be a finite positive number of seconds or a timedelta, got {run_duration!r}"
        )
    check_seconds("run_duration", seconds, maximum=MAX_RUN_DURATION_S)
    return Duration(float(seconds))  # type: ignore[arg-type]
