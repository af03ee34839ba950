"""Live stats: a snapshot every ``live_interval`` seconds, handed to pluggable sinks.

A sink is any callable taking a ``LiveSnapshot``. An ``async`` sink is awaited in the run's
ticker task (off every client's path); a plain function runs in a worker thread, so a slow
sink (an HTTP call to a Prefect server, a terminal redraw) never stalls the event loop that
times the requests. The snapshot's ``stats`` are computed by the same ``RunningStats`` code
as stats.json, with "now" as the end time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Union

from .units import display_text, with_unit

__all__ = [
    "LiveSnapshot",
    "LiveSink",
    "DISPLAY_GROUPS",
    "format_value",
    "grouped_rows",
    "generator_rows",
    "generator_verdict",
    "slo_rows",
    "estimated_counts",
]


@dataclass(frozen=True)
class LiveSnapshot:
    """The state of a run at one moment."""

    run_name: str
    elapsed_s: float
    requests_sent: int
    responses_done: int
    in_flight: int
    expected_requests: int | None
    run_duration: float | None
    progress: float
    stats: dict[str, Any] = field(default_factory=dict)
    final: bool = False
    interrupted: bool = False


LiveSink = Callable[[LiveSnapshot], Union[None, Awaitable[None]]]


def _latency_group(title: str, name: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A latency group: its unit in the title (``TTFT (ms)``), one row per percentile."""
    keys = tuple((aggregate, f"{name}-{aggregate}") for aggregate in ("p50", "p90", "p99"))
    return with_unit(title, keys[0][1]), keys


def _labelled(*items: tuple[str, str]) -> tuple[tuple[str, str], ...]:
    """Rows whose label says the unit of their key (``throughput (req/s)``)."""
    return tuple((with_unit(label, key), key) for label, key in items)


#: Display groups: (group title, [(label, stats.json key), ...]). Display-level naming only;
#: the stats keep their stats.json names and units; the titles and labels carry the display
#: unit (``units.py``), the values none.
DISPLAY_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Throughput",
        _labelled(
            ("requests", "total_requests"),
            ("throughput", "completed_requests_per_second"),
            ("sent", "requests_per_minute"),
            ("output", "output_tps"),
        ),
    ),
    _latency_group("TTFT", "time_to_first_token"),
    _latency_group("TTLT", "time_to_last_token"),
    (
        "Tokens",
        (("input", "total_input_tokens"), ("output", "total_output_tokens"), ("cached", "total_cached_input_tokens")),
    ),
    (
        "Errors",
        _labelled(
            ("failed", "failed_requests"),
            ("failure rate", "failed_requests_rate"),
            ("incomplete", "incomplete_requests"),
        ),
    ),
)

#: Error types not listed by type under "Errors": ``incomplete`` (requests cut by the run's
#: end) has its own row, ``incomplete_requests``.
_COUNTED_APART = frozenset({"incomplete"})


def format_value(key: str, value: Any) -> str:
    """One stat as text in its display unit (``units.display_text``): latencies in ms,
    rates of failure in %, counts with thousands separators; the unit is in the label."""
    return display_text(key, value)


def estimated_counts(stats: dict[str, Any]) -> str | None:
    """A note when some token counts are not the API's own (``num_tokens_*_sources`` other
    than ``usage``): which counts, from what, for how many responses (else None). The one
    rule behind the "estimated" flag of the display, the artifacts and the CLI summary."""
    parts = []
    for side in ("output", "input"):
        sources = stats.get(f"num_tokens_{side}_sources") or {}
        estimated = {name: n for name, n in sources.items() if name != "usage"}
        if estimated:
            parts.append(f"{side} " + ", ".join(f"{name} {n:,}" for name, n in sorted(estimated.items())))
    return "estimated token counts: " + "; ".join(parts) if parts else None


def generator_verdict(stats: dict[str, Any]) -> str | None:
    """A warning line when the load generator, not the endpoint, was the limit (else None)."""
    if not stats.get("client_bound"):
        return None
    return (
        f"CLIENT-BOUND: the load generator was the bottleneck ({stats.get('client_bound_reason')}); "
        "these numbers describe this machine, not the endpoint: lower the load or add shards"
    )


def generator_rows(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The "Generator" group: offered and achieved rate, dispatch delay and latency from the
    schedule (open loop), the generator's CPU and event-loop lag, and its verdict."""

    def _row(label: str, key: str) -> tuple[str, str, str]:
        return ("Generator", with_unit(label, key), format_value(key, stats.get(key)))

    rows = []
    if stats.get("load_mode") == "rate":
        rows += [
            _row("offered", "offered_rate"),
            _row("achieved", "achieved_rate"),
            _row("dispatch delay p99", "dispatch_delay-p99"),
            _row("TTFT from schedule p50", "time_to_first_token_from_schedule-p50"),
            _row("TTFT from schedule p99", "time_to_first_token_from_schedule-p99"),
        ]
    if "client_bound" not in stats:
        return rows
    rows += [
        _row("max in flight", "max_in_flight"),
        _row("client CPU", "client_cpu_utilization-mean"),
        _row("loop lag p99", "event_loop_lag-p99"),
        ("Generator", "verdict", "CLIENT-BOUND" if stats.get("client_bound") else "ok"),
    ]
    return rows


def grouped_rows(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(group, label, formatted value) rows for displays and artifacts."""
    rows = []
    for group, items in DISPLAY_GROUPS:
        for label, key in items:
            rows.append((group, label, format_value(key, stats.get(key))))
    note = estimated_counts(stats)
    if note is not None:
        rows.append(("Tokens", "ESTIMATED", note.split(": ", 1)[1]))
    errors = stats.get("errors") or {}
    for kind, count in errors.items():
        if kind not in _COUNTED_APART:
            rows.append(("Errors", kind, f"{count:,}"))
    rows += slo_rows(stats)
    rows += generator_rows(stats)
    return rows


def slo_rows(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The "SLO" group of a run with an SLO (``slo.py``): attainment, goodput and the verdict."""
    if "slo_attainment" not in stats:
        return []
    passed = stats.get("slo_passed")
    return [
        ("SLO", with_unit("attainment", "slo_attainment"), format_value("slo_attainment", stats.get("slo_attainment"))),
        ("SLO", with_unit("goodput", "goodput"), format_value("goodput", stats.get("goodput"))),
        ("SLO", "verdict", "pass" if passed else f"FAIL: {stats.get('slo_failed_reason')}"),
    ]
