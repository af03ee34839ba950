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

#: Display groups: (group title, [(label, stats.json key), ...]). Display-level naming only;
#: the stats keep their stats.json names.
DISPLAY_GROUPS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "Throughput",
        (
            ("requests", "total_requests"),
            ("throughput req/s", "completed_requests_per_second"),
            ("requests/min", "requests_per_minute"),
            ("output tok/s", "output_tps"),
        ),
    ),
    (
        "TTFT (s)",
        (("p50", "time_to_first_token-p50"), ("p90", "time_to_first_token-p90"), ("p99", "time_to_first_token-p99")),
    ),
    (
        "TTLT (s)",
        (("p50", "time_to_last_token-p50"), ("p90", "time_to_last_token-p90"), ("p99", "time_to_last_token-p99")),
    ),
    (
        "Tokens",
        (("input", "total_input_tokens"), ("output", "total_output_tokens"), ("cached", "total_cached_input_tokens")),
    ),
    (
        "Errors",
        (("failed", "failed_requests"), ("rate", "failed_requests_rate"), ("incomplete", "incomplete_requests")),
    ),
)


def format_value(key: str, value: Any) -> str:
    """Human formatting for one stat: times in ms below 1 s, rates with one decimal."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if key.endswith("_rate"):
            return f"{value:.1%}"
        if key.startswith(("time_to_", "time_per_")):
            return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.3f} s"
        return f"{value:,.1f}"
    return str(value)


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
    rows = []
    if stats.get("load_mode") == "rate":
        rows += [
            ("Generator", "offered req/s", format_value("offered_rate", stats.get("offered_rate"))),
            ("Generator", "achieved req/s", format_value("achieved_rate", stats.get("achieved_rate"))),
            ("Generator", "dispatch delay p99", format_value("time_", stats.get("dispatch_delay-p99"))),
            (
                "Generator",
                "TTFT from schedule p50",
                format_value("time_", stats.get("time_to_first_token_from_schedule-p50")),
            ),
            (
                "Generator",
                "TTFT from schedule p99",
                format_value("time_", stats.get("time_to_first_token_from_schedule-p99")),
            ),
        ]
    if "client_bound" not in stats:
        return rows
    cpu = stats.get("client_cpu_utilization-mean")
    rows += [
        ("Generator", "max in flight", format_value("max_in_flight", stats.get("max_in_flight"))),
        ("Generator", "client CPU", "—" if cpu is None else f"{cpu:.0%}"),
        ("Generator", "loop lag p99", format_value("time_", stats.get("event_loop_lag-p99"))),
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
        rows.append(("Errors", kind, f"{count:,}"))
    rows += slo_rows(stats)
    rows += generator_rows(stats)
    return rows


def slo_rows(stats: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The "SLO" group of a run with an SLO (``slo.py``): attainment, goodput and the verdict."""
    if "slo_attainment" not in stats:
        return []
    attainment, passed = stats.get("slo_attainment"), stats.get("slo_passed")
    return [
        ("SLO", "attainment", "—" if attainment is None else f"{attainment:.1%}"),
        ("SLO", "goodput req/s", format_value("goodput", stats.get("goodput"))),
        ("SLO", "verdict", "pass" if passed else f"FAIL: {stats.get('slo_failed_reason')}"),
    ]
