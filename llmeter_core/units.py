"""One display convention for every table a user reads (CLI, Prefect UI, HTML report).

stats.json keeps its own units (seconds, requests per minute, a 0..1 failure rate) so files
stay comparable across versions; what a person reads uses one convention, units in the
header: latencies in ms, throughput (completed requests / s) and open-loop rates in req/s,
LLMeter's send-window rate in req/min, tokens in tok/s, rates of failure in %.
``display_header``, ``display_value`` (numbers, for tables a program reads) and
``display_text`` (text, for terminals and markdown) are the one home of that rule; values
carry no unit of their own, the header (or row label, ``with_unit``) says it.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["unit_of", "display_header", "display_value", "display_name", "display_text", "with_unit"]

#: Short names of the latency metrics in headers.
_SHORT = {
    "time_to_first_token": "TTFT",
    "time_to_first_content_token": "first content token",
    "time_to_end": "time to end",
    "time_to_last_token": "TTLT",
    "time_per_output_token": "TPOT",
    "inter_token_latency": "ITL",
    "max_inter_token_latency": "max ITL",
    "time_to_first_token_from_schedule": "TTFT from schedule",
    "time_to_last_token_from_schedule": "TTLT from schedule",
    "completed_requests_per_second": "Throughput",
    "requests_per_minute": "Requests sent",
    "output_tps": "Output",
    "input_tps": "Input",
    "failed_requests_rate": "Failed",
    "total_requests": "Requests",
    "failed_requests": "Failed requests",
    "achieved_rate": "Achieved rate",
    "offered_rate": "Offered rate",
    "rate": "Rate",
}

#: Display unit and factor from the stats.json value, by exact key.
_BY_KEY: dict[str, tuple[str, float]] = {
    "requests_per_minute": ("req/min", 1.0),
    "completed_requests_per_second": ("req/s", 1.0),
    "output_tps": ("tok/s", 1.0),
    "input_tps": ("tok/s", 1.0),
    "failed_requests_rate": ("%", 100.0),
    "rate": ("req/s", 1.0),
    "offered_rate": ("req/s", 1.0),
    "achieved_rate": ("req/s", 1.0),
    "run_duration": ("s", 1.0),
    "elapsed_s": ("s", 1.0),
    "cost_total": ("$", 1.0),
    "cost_per_1m_output_tokens": ("$", 1.0),
    "slo_attainment": ("%", 100.0),
    "goodput": ("req/s", 1.0),
    "goodput_output_tps": ("tok/s", 1.0),
}

#: Latencies measured by the load generator itself (seconds in stats.json, ms on screen).
_GENERATOR_TIMES = frozenset({"dispatch_delay", "event_loop_lag"})


def _split(key: str) -> tuple[str, str]:
    """``time_to_first_token-p50`` -> (``time_to_first_token``, ``p50``)."""
    name, _, aggregate = key.partition("-")
    return name, aggregate


def unit_of(key: str) -> tuple[str, float]:
    """The display unit of a stats key and the factor from its stats.json value ("" if none)."""
    if key in _BY_KEY:
        return _BY_KEY[key]
    name, _ = _split(key)
    if name.startswith("time_") or name.endswith("inter_token_latency") or name in _GENERATOR_TIMES:
        return "ms", 1000.0
    if name == "client_cpu_utilization":
        return "%", 100.0
    if name.startswith("num_tokens"):
        return "tokens", 1.0
    return "", 1.0


def display_name(key: str) -> str:
    """A stats key as a person reads it: ``TTFT p50``, ``Throughput``
    (completed requests per second; ``requests_per_minute`` is "Requests sent", LLMeter's
    send-window rate)."""
    name, aggregate = _split(key)
    short = _SHORT.get(name, name)
    return f"{short} {aggregate}" if aggregate else short


def display_header(key: str) -> str:
    """The header of a stats key with its unit: ``TTFT p50 (ms)``, ``Output (tok/s)``."""
    unit, _ = unit_of(key)
    return f"{display_name(key)} ({unit})" if unit else display_name(key)


def display_value(key: str, value: Any, digits: int = 1) -> Any:
    """A stats value in its display unit, rounded (ms to 0.1 ms, % to 0.1 %); others as they are."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    unit, factor = unit_of(key)
    if not unit or unit == "tokens" and float(value).is_integer():
        return value
    scaled = value * factor
    return round(scaled, digits if unit != "$" else 4)


def with_unit(label: str, key: str) -> str:
    """A row label with the unit of ``key``: ``with_unit("p50", "time_to_first_token-p50")``
    is ``p50 (ms)``; a label that already names its unit is left as it is."""
    unit, _ = unit_of(key)
    return f"{label} ({unit})" if unit and unit not in label else label


#: Decimals shown by display unit (``display_text``): 0.1 ms, 0.1 %, 0.01 req/s, $0.0001.
_DIGITS = {"req/s": 2, "$": 4}


def display_text(key: str, value: Any, missing: str = "—", digits: int | None = None) -> str:
    """A stats value as text in its display unit, without the unit: ``107.1`` for a TTFT of
    0.1071 s, ``5.0`` for a 0.05 failure rate, ``1,281`` for a count; ``missing`` for none."""
    if digits is None:
        digits = _DIGITS.get(unit_of(key)[0], 1)
    shown = display_value(key, value, digits)
    if shown is None:
        return missing
    if isinstance(shown, bool):
        return str(shown)
    if isinstance(shown, int):
        return f"{shown:,}"
    if isinstance(shown, float):
        return f"{shown:,.{digits}f}"
    return str(shown)
