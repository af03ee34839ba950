"""What the Prefect UI shows about a run: artifact keys, tables and markdown built from stats.

Pure formatting (no Prefect calls) so it is unit-tested directly; ``live.py`` and
``load_test.py`` publish it. Prefect's rules, learnt the hard way: keys are lowercase
letters, digits and ``-``; tables must be plain JSON (no numpy scalars, no NaN), so values
are converted and rounded here.
"""

from __future__ import annotations

import math
from typing import Any

from llmeter_core.live import LiveSnapshot, estimated_counts, generator_verdict, grouped_rows
from llmeter_core.slo import slo_line
from llmeter_core.units import display_header, display_name, display_text, display_value, unit_of

__all__ = [
    "artifact_key",
    "plain",
    "metrics_table",
    "metrics_description",
    "run_rates",
    "live_markdown",
    "live_log_line",
]

#: Run-wide rates: one value each, not a distribution, so they are not rows of the metrics
#: table (whose columns are per-request aggregates) but a line of its description.
_RATE_KEYS: tuple[str, ...] = (
    "completed_requests_per_second",
    "requests_per_minute",
    "output_tps",
    "failed_requests_rate",
)

#: Per-request metrics of the table, in this order (the UI shows 10 rows a page: the others,
#: ``inter_token_latency`` equal to ``time_per_output_token`` and the input token counts, are
#: in stats.json and the description).
_TABLE_METRICS: tuple[str, ...] = (
    "time_to_first_token",
    "time_to_first_content_token",
    "time_to_last_token",
    "time_to_end",
    "time_per_output_token",
    "max_inter_token_latency",
    "num_tokens_output",
)

#: Percentile columns of the metrics table (the UI pages tables by 10 rows: keep it short).
_TABLE_AGGREGATES: tuple[str, ...] = ("average", "p50", "p90", "p99", "max")


def artifact_key(*parts: str) -> str:
    """A valid, stable Prefect artifact key from free-text parts (``sweep``, ``run``, ``live``)."""
    text = "-".join(p for p in parts if p)
    out = []
    previous_dash = True
    for char in text.lower():
        if char.isascii() and char.isalnum():
            out.append(char)
            previous_dash = False
        elif not previous_dash:
            out.append("-")
            previous_dash = True
    return "".join(out).strip("-") or "llmeter"


def plain(value: Any, digits: int = 4) -> Any:
    """A JSON-safe, display-rounded scalar: numpy scalars unwrapped, NaN/inf as None."""
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return round(value, digits)
    return value


#: Metrics shown only when the run measured them.
_WHEN_MEASURED = frozenset({"max_inter_token_latency", "time_to_end"})


def metrics_table(stats: dict[str, Any]) -> list[dict[str, Any]]:
    """The final metrics table: one row per metric, fitting the UI's first page (10 rows).

    Each metric of ``_TABLE_METRICS`` is a row with its ``average``, ``p50``, ``p90``,
    ``p99`` and ``max`` over the requests, in the display units, the unit in the metric's
    name (``TTFT (ms)``, ``num_tokens_output (tokens)``: ``units.py``); the time to first
    content token only when it differs from the time to first token (a reasoning stream).
    The run-wide rates (throughput, requests sent, output tok/s, failure rate), counts and
    errors by type go in ``metrics_description``.
    """
    rows: list[dict[str, Any]] = []
    for name in _TABLE_METRICS:
        if name in _WHEN_MEASURED and all(stats.get(f"{name}-{agg}") is None for agg in _TABLE_AGGREGATES):
            continue  # not measured in this run (a run loaded from an older folder...)
        if name == "time_to_first_content_token" and all(
            stats.get(f"{name}-{agg}") == stats.get(f"time_to_first_token-{agg}") for agg in _TABLE_AGGREGATES
        ):
            continue  # no reasoning streamed: the same as the time to first token
        row: dict[str, Any] = {"metric": display_header(name)}
        for agg in _TABLE_AGGREGATES:
            key = f"{name}-{agg}"
            row[agg] = plain(display_value(key, plain(stats.get(key), digits=6), digits=2))
        rows.append(row)
    return rows


def run_rates(stats: dict[str, Any]) -> str:
    """The run-wide rates in the display units: ``Throughput 37.3 req/s, Requests sent
    1,281.2 req/min, Output 412.0 tok/s, Failed 5.0 %``."""
    return ", ".join(f"{display_name(key)} {display_text(key, stats.get(key))} {unit_of(key)[0]}" for key in _RATE_KEYS)


def metrics_description(run_name: str, stats: dict[str, Any]) -> str:
    """The metrics table's description: state, counts and errors by type."""
    state = "interrupted, partial run saved" if stats.get("interrupted") else "done"
    errors = stats.get("errors") or {}
    by_type = ", ".join(f"{kind} {count:,}" for kind, count in sorted(errors.items())) or "none"
    verdict = generator_verdict(stats)
    estimated = estimated_counts(stats)
    return (
        (f"**{verdict}** " if verdict else "")
        + (f"**{estimated}** (not the API's usage). " if estimated else "")
        + f"Final metrics of load run {run_name} ({state}): {stats.get('total_requests', 0):,} requests, "
        f"{stats.get('failed_requests', 0):,} failed, {stats.get('incomplete_requests', 0):,} incomplete; "
        f"errors by type: {by_type}; "
        f"{stats.get('total_input_tokens', 0):,} input tokens ({stats.get('total_cached_input_tokens', 0):,} "
        f"cached), {stats.get('total_output_tokens', 0):,} output tokens. Over the run: {run_rates(stats)}. "
        "The table: per request, latencies in ms." + (f" {slo_verdict}." if (slo_verdict := slo_line(stats)) else "")
    )


def live_markdown(snapshot: LiveSnapshot) -> str:
    """The live-metrics artifact: progress line and the grouped stats of the display."""
    if snapshot.final:
        state = "interrupted (partial run saved)" if snapshot.interrupted else "finished"
    else:
        state = "running"
    expected = f"/{snapshot.expected_requests:,}" if snapshot.expected_requests else ""
    duration = f"/{snapshot.run_duration:g} s" if snapshot.run_duration else " s"
    lines = [
        f"### {snapshot.run_name}: {state}",
        "",
        f"**{snapshot.responses_done:,}{expected}** responses, {snapshot.requests_sent:,} sent, "
        f"{snapshot.in_flight} in flight, {snapshot.elapsed_s:.1f}{duration} elapsed "
        f"({snapshot.progress:.0%})",
        "",
        *([f"**{generator_verdict(snapshot.stats)}**", ""] if generator_verdict(snapshot.stats) else []),
        *([f"**{estimated_counts(snapshot.stats)}**", ""] if estimated_counts(snapshot.stats) else []),
        "| group | metric | value |",
        "|---|---|---|",
    ]
    for group, label, value in grouped_rows(snapshot.stats):
        lines.append(f"| {group} | {label} | {value} |")
    return "\n".join(lines) + "\n"


def live_log_line(snapshot: LiveSnapshot) -> str:
    """One log line per interval (logs stream live in the UI; artifacts need a reload)."""
    stats = snapshot.stats

    def ms(key: str) -> str:
        value = stats.get(key)
        return f"{value * 1000:.0f}" if isinstance(value, (int, float)) else "-"

    def num(key: str) -> str:
        value = stats.get(key)
        return f"{value:,.0f}" if isinstance(value, (int, float)) else "-"

    expected = f"/{snapshot.expected_requests}" if snapshot.expected_requests else ""
    throughput = stats.get("completed_requests_per_second")
    estimated = " (estimated)" if estimated_counts(stats) else ""
    return (
        f"{snapshot.run_name}: {snapshot.responses_done}{expected} done ({snapshot.progress:.0%}), "
        f"{snapshot.elapsed_s:.1f} s, throughput "
        f"{'-' if throughput is None else f'{throughput:,.2f}'} req/s, {num('requests_per_minute')} req/min, "
        f"{num('output_tps')} tok/s{estimated}, "
        f"TTFT p50/p90/p99 {ms('time_to_first_token-p50')}/{ms('time_to_first_token-p90')}/"
        f"{ms('time_to_first_token-p99')} ms, TTLT p50/p90/p99 {ms('time_to_last_token-p50')}/"
        f"{ms('time_to_last_token-p90')}/{ms('time_to_last_token-p99')} ms, "
        f"{stats.get('failed_requests', 0)} failed"
    )
