"""One clock for the whole engine.

Durations are measured with ``time.perf_counter_ns`` (monotonic, integer, cheap). Wall-clock
times (``request_time``, ``start_time``...) are derived from the same counter through one
anchor taken at import, so a request's wall time and its latencies never disagree and no
per-request ``datetime.now()`` is needed. Wall times keep microseconds (LLMeter truncated
them to whole seconds).
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

__all__ = [
    "now_ns",
    "wall_minus_perf_ns",
    "engine_minus_system_s",
    "to_datetime",
    "utc_now",
    "format_time",
    "parse_time",
]

now_ns = time.perf_counter_ns


def wall_minus_perf_ns(samples: int = 7) -> int:
    """``time.time_ns()`` minus ``perf_counter_ns()`` at one moment. Two clock reads are never
    one moment: a process preempted between them (a loaded machine) would be off by the whole
    preemption, milliseconds. So: each sample reads the counter, the wall clock, the counter
    again, and the tightest sample's midpoint is kept (within a microsecond or two)."""
    best_gap, best = None, 0
    for _ in range(samples):
        before = time.perf_counter_ns()
        wall = time.time_ns()
        after = time.perf_counter_ns()
        if best_gap is None or after - before < best_gap:
            best_gap, best = after - before, wall - (before + after) // 2
    return best


_WALL_MINUS_PERF_NS = wall_minus_perf_ns()  # the engine's clock: fixed at import
_PERF_ANCHOR_NS = time.perf_counter_ns()
_WALL_ANCHOR = datetime.fromtimestamp((_PERF_ANCHOR_NS + _WALL_MINUS_PERF_NS) // 1000 / 1e6, tz=timezone.utc)


def engine_minus_system_s() -> float:
    """The engine's clock (``to_datetime``, fixed at import) minus the system clock now,
    seconds: how far the two have drifted apart since (NTP slews the system clock)."""
    return (_WALL_MINUS_PERF_NS - wall_minus_perf_ns()) / 1e9


def to_datetime(perf_ns: int) -> datetime:
    """The UTC wall-clock time of a ``perf_counter_ns`` reading, to the microsecond."""
    return _WALL_ANCHOR + timedelta(microseconds=(perf_ns - _PERF_ANCHOR_NS) // 1000)


def utc_now() -> datetime:
    """Now, on the same clock as ``to_datetime``."""
    return to_datetime(time.perf_counter_ns())


def format_time(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with microseconds and a ``Z`` suffix, e.g. ``2026-11-28T11:50:00.123456Z``."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str | datetime | None) -> datetime | None:
    """Parse what ``format_time`` (or LLMeter 0.2.0) wrote; naive times are taken as UTC."""
    if value is None or isinstance(value, datetime):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed
