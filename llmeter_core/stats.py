"""Exact, incremental, mergeable run statistics.

One implementation serves the live snapshots, the final stats.json and stats recomputed from
a loaded responses.jsonl, so the three always agree (LLMeter computed them with different
formulas). It is exact, not a sketch: each successful response adds one float per metric
(8 bytes), so percentiles are computed over every value, and two ``RunningStats`` from
shards of one run ``merge`` into exactly the stats of the whole run.

How each stats.json key is computed (times in seconds, token counts in tokens):

- ``<metric>-average|min|max|p50|p90|p95|p99`` over *successful* responses that report the
  metric, for the metrics in ``METRICS``. Percentiles use numpy's default ``"linear"``
  method (type 7 of Hyndman & Fan): the value at rank ``q·(n-1)`` interpolated between its
  neighbours, so a percentile never leaves the range of the data. Failed requests are counted
  but never mixed into latency percentiles.
- ``total_requests``: measured requests (warm-up excluded), failed ones included.
- ``failed_requests``, ``failed_requests_rate``: responses with an error, excluding
  ``incomplete`` ones (requests cancelled by the run's end, not by the endpoint), which are
  counted in ``incomplete_requests``. ``errors``: count by ``error_type`` (incomplete
  included).
- ``total_input_tokens``, ``total_output_tokens``, ``total_cached_input_tokens``: sums over
  successful responses.
- ``num_tokens_input_sources``, ``num_tokens_output_sources``: how many successful responses
  had their counts from each source (``usage``, ``stream``, ``tokenizer``; see
  ``InvocationResponse``): anything but ``usage`` is an estimate.
- ``requests_per_minute`` = total_requests · 60 / (last request_time − first request_time):
  the *send window* (LLMeter's definition), so slow tail responses do not depress it; for
  closed-loop clients sending n requests each it reads about n/(n−1) too high.
- ``completed_requests_per_second`` = successful requests / (first request_time → the end
  of the last successful response, ``request_time + time_to_end``): the throughput guidellm
  and vllm bench serve report ("throughput" in the display and artifacts).
- ``achieved_rate`` (open-loop runs): (sends - 1) / send window, the rate the schedule was
  actually sent at (``offered_rate``, the schedule's own, is added by the runner).
- ``dispatch_delay-*`` (open-loop runs): over every send, failed ones included: how late
  each request left against its scheduled time.
- ``average_input_tokens_per_minute``, ``average_output_tokens_per_minute``, ``output_tps``:
  token totals over (end_time − first request_time).
- ``slo_*`` and ``goodput*`` (runs with an SLO): added from the counts of ``slo_met`` kept
  here by ``slo.SLO.stats``, the one home of those rules.
"""

from __future__ import annotations

import operator
from array import array
from datetime import datetime
from typing import Any, Iterable

import numpy as np

from .response import INCOMPLETE, InvocationResponse

__all__ = ["METRICS", "SEND_METRICS", "AGGREGATES", "PERCENTILES", "RunningStats", "percentile"]

METRICS: tuple[str, ...] = (
    "time_to_first_token",
    "time_to_first_content_token",
    "time_to_last_token",
    "time_to_end",
    "time_per_output_token",
    "inter_token_latency",
    "max_inter_token_latency",
    "num_tokens_input",
    "num_tokens_output",
    "num_tokens_input_cached",
    "time_to_first_token_from_schedule",
    "time_to_last_token_from_schedule",
)
#: Metrics of every send, failed ones included (how late the generator sent is not the
#: endpoint's doing, so it is not limited to successes).
SEND_METRICS: tuple[str, ...] = ("dispatch_delay",)
#: A response's ``METRICS`` values, read in one C call (``update`` runs once per response).
_metrics_of = operator.attrgetter(*METRICS)
PERCENTILES: tuple[int, ...] = (50, 90, 95, 99)
AGGREGATES: tuple[str, ...] = ("average", "min", "max") + tuple(f"p{p}" for p in PERCENTILES)


def percentile(values: Any, q: float) -> float:
    """The documented percentile method: numpy's ``linear`` interpolation."""
    return float(np.percentile(np.asarray(values, dtype=float), q, method="linear"))


class RunningStats:
    """Accumulates responses; ``to_stats(end_time)`` gives the stats.json keys at any time."""

    def __init__(self) -> None:
        self._values: dict[str, array] = {m: array("d") for m in METRICS + SEND_METRICS}
        self.total_requests = 0
        self.failed_requests = 0
        self.incomplete_requests = 0
        self.errors: dict[str, int] = {}
        self.total_input_tokens = 0
        self.total_output_tokens = 0
        self.total_cached_input_tokens = 0
        self.slo_met_requests = 0  # requests meeting the run's SLO (slo.py), and their output tokens
        self.slo_met_output_tokens = 0
        self.first_request_time: datetime | None = None
        self.last_request_time: datetime | None = None
        self.completed_requests = 0
        #: The latest end of a successful response (POSIX seconds; 0: none yet).
        self.last_end = 0.0
        self.input_sources: dict[str, int] = {}
        self.output_sources: dict[str, int] = {}

    @classmethod
    def from_responses(cls, responses: Iterable[InvocationResponse]) -> "RunningStats":
        stats = cls()
        for response in responses:
            stats.update(response)
        return stats

    def update(self, r: InvocationResponse) -> None:
        """Add one measured response (cheap: a few attribute reads and appends)."""
        self.total_requests += 1
        sent = r.request_time
        if sent is not None:
            if self.first_request_time is None or sent < self.first_request_time:
                self.first_request_time = sent
            if self.last_request_time is None or sent > self.last_request_time:
                self.last_request_time = sent
        if r.dispatch_delay is not None:
            self._values["dispatch_delay"].append(r.dispatch_delay)
        if r.error is not None or r.error_type is not None:
            kind = r.error_type or "unknown"
            self.errors[kind] = self.errors.get(kind, 0) + 1
            if kind == INCOMPLETE:
                self.incomplete_requests += 1
            else:
                self.failed_requests += 1
            return
        values = self._values
        for name, value in zip(METRICS, _metrics_of(r), strict=True):
            if value is not None:
                values[name].append(value)
        self.completed_requests += 1
        if sent is not None:
            end = r.time_to_end if r.time_to_end is not None else r.time_to_last_token
            end = sent.timestamp() + (end or 0.0)
            if end > self.last_end:
                self.last_end = end
        source = r.num_tokens_input_source
        if source is not None:
            self.input_sources[source] = self.input_sources.get(source, 0) + 1
        source = r.num_tokens_output_source
        if source is not None:
            self.output_sources[source] = self.output_sources.get(source, 0) + 1
        self.total_input_tokens += r.num_tokens_input or 0
        self.total_output_tokens += r.num_tokens_output or 0
        self.total_cached_input_tokens += r.num_tokens_input_cached or 0
        if r.slo_met:
            self.slo_met_requests += 1
            self.slo_met_output_tokens += r.num_tokens_output or 0

    def merge(self, other: "RunningStats") -> "RunningStats":
        """A new RunningStats equal to having seen both sets of responses (exact)."""
        merged = RunningStats()
        for name in METRICS + SEND_METRICS:
            merged._values[name] = self._values[name] + other._values[name]
        for attr in (
            "total_requests",
            "failed_requests",
            "incomplete_requests",
            "total_input_tokens",
            "total_output_tokens",
            "total_cached_input_tokens",
            "slo_met_requests",
            "slo_met_output_tokens",
            "completed_requests",
        ):
            setattr(merged, attr, getattr(self, attr) + getattr(other, attr))
        merged.last_end = max(self.last_end, other.last_end)
        merged.errors = _add_counts(self.errors, other.errors)
        merged.input_sources = _add_counts(self.input_sources, other.input_sources)
        merged.output_sources = _add_counts(self.output_sources, other.output_sources)
        firsts = [t for t in (self.first_request_time, other.first_request_time) if t is not None]
        lasts = [t for t in (self.last_request_time, other.last_request_time) if t is not None]
        merged.first_request_time = min(firsts) if firsts else None
        merged.last_request_time = max(lasts) if lasts else None
        return merged

    def metric_values(self, name: str) -> np.ndarray:
        """A copy of the recorded values of one metric. A copy, not a view: a live view would
        make the next append fail (an ``array`` cannot grow while a buffer is exported)."""
        return np.array(self._values[name], dtype=float)

    def to_stats(self, end_time: datetime | None) -> dict[str, Any]:
        """stats.json keys as of ``end_time`` (the run's end, or now for a live snapshot)."""
        out: dict[str, Any] = {}
        for name in METRICS + SEND_METRICS:
            values = self.metric_values(name)
            if values.size == 0:
                for agg in AGGREGATES:
                    out[f"{name}-{agg}"] = None
                continue
            out[f"{name}-average"] = float(values.mean())
            out[f"{name}-min"] = float(values.min())
            out[f"{name}-max"] = float(values.max())
            for p, v in zip(PERCENTILES, np.percentile(values, PERCENTILES, method="linear"), strict=True):
                out[f"{name}-p{p}"] = float(v)
        total = self.total_requests
        out["total_requests"] = total
        out["failed_requests"] = self.failed_requests
        out["failed_requests_rate"] = self.failed_requests / total if total else 0.0
        out["incomplete_requests"] = self.incomplete_requests
        out["errors"] = dict(sorted(self.errors.items()))
        out["total_input_tokens"] = self.total_input_tokens
        out["total_output_tokens"] = self.total_output_tokens
        out["total_cached_input_tokens"] = self.total_cached_input_tokens

        out["num_tokens_input_sources"] = dict(sorted(self.input_sources.items()))
        out["num_tokens_output_sources"] = dict(sorted(self.output_sources.items()))
        send_window = _seconds(self.first_request_time, self.last_request_time)
        out["requests_per_minute"] = total * 60.0 / send_window if send_window else None
        first = self.first_request_time
        busy = self.last_end - first.timestamp() if first is not None and self.last_end else 0.0
        out["completed_requests_per_second"] = self.completed_requests / busy if busy > 0 else None
        scheduled = len(self._values["dispatch_delay"])
        out["achieved_rate"] = (scheduled - 1) / send_window if scheduled > 1 and send_window else None
        output_window = _seconds(self.first_request_time, end_time)
        if output_window:
            out["average_input_tokens_per_minute"] = self.total_input_tokens * 60.0 / output_window
            out["average_output_tokens_per_minute"] = self.total_output_tokens * 60.0 / output_window
            out["output_tps"] = self.total_output_tokens / output_window
        else:
            out["average_input_tokens_per_minute"] = None
            out["average_output_tokens_per_minute"] = None
            out["output_tps"] = None
        return out


def _add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    merged = dict(a)
    for key, count in b.items():
        merged[key] = merged.get(key, 0) + count
    return merged


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    seconds = (end - start).total_seconds()
    return seconds if seconds > 0 else None
