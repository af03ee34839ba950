"""Service-level objectives: which requests were good enough, and did the run pass.

An ``SLO`` (``slo:`` in spec files, suites and flow parameters) sets per-request limits, any
of ``ttft_ms``, ``ttlt_ms``, ``tpot_ms`` and ``itl_ms``, the share of requests that must meet
*all* of them (``percentile``, default 90) and the highest error rate allowed
(``max_error_rate``, default 0.01). This module is the one home of the rules:

- **Per request** (``slo_met`` in responses.jsonl): a request meets the SLO when it succeeded
  and every limit holds. Failed and incomplete requests never meet it. In an open-loop run,
  ``ttft_ms`` and ``ttlt_ms`` apply to the latency *from the schedule*
  (``time_to_first_token_from_schedule``...), so time spent in the client's own queue counts,
  as it does for the user behind the schedule. ``tpot_ms`` applies to
  ``time_per_output_token`` and ``itl_ms`` to ``inter_token_latency``; a response with a
  single output token has no gap between tokens and meets those two. A successful response
  that did not report a time to first (or last) token does not meet a limit on it.
- **Per run** (stats.json and live snapshots): ``slo_attainment`` = requests meeting the SLO /
  measured requests (failed and incomplete ones included); ``goodput`` = requests meeting it
  per second: attainment x the rate requests were sent at (``achieved_rate`` in open loop,
  ``requests_per_minute`` / 60 in closed loop); ``goodput_output_tps`` = output tokens of those
  requests per second (the window of ``output_tps``); ``slo_observed_<limit>``: the metric at
  the SLO's percentile over successful requests (in ms, like the limit). ``slo_passed``:
  attainment >= percentile / 100 and ``failed_requests_rate`` <= ``max_error_rate``;
  ``slo_failed_reason`` names each limit missed and by how much.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Callable

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError

if TYPE_CHECKING:
    from .response import InvocationResponse
    from .stats import RunningStats

__all__ = ["SLO", "LIMITS", "slo_metric", "slo_line"]

#: Each limit: (the response's metric in closed loop, in open loop, whether a missing value meets it).
LIMITS: dict[str, tuple[str, str, bool]] = {
    "ttft_ms": ("time_to_first_token", "time_to_first_token_from_schedule", False),
    "ttlt_ms": ("time_to_last_token", "time_to_last_token_from_schedule", False),
    "tpot_ms": ("time_per_output_token", "time_per_output_token", True),
    "itl_ms": ("inter_token_latency", "inter_token_latency", True),
}

#: A latency limit in milliseconds (at most an hour).
_Ms = Annotated[float, Field(gt=0, le=3_600_000, strict=True, allow_inf_nan=False)]


def slo_metric(limit: str, open_loop: bool) -> str:
    """The response field a limit applies to (``ttft_ms`` -> ``time_to_first_token``, or
    ``time_to_first_token_from_schedule`` in an open-loop run)."""
    closed, opened, _ = LIMITS[limit]
    return opened if open_loop else closed


def slo_line(stats: dict[str, Any]) -> str | None:
    """The run's SLO verdict in one line (the CLI summary), None for a run without an SLO."""
    if "slo_passed" not in stats:
        return None
    attainment, goodput = stats.get("slo_attainment"), stats.get("goodput")
    head = "SLO passed" if stats["slo_passed"] else f"SLO FAILED ({stats.get('slo_failed_reason')})"
    shown = "-" if attainment is None else f"{attainment:.1%}"
    return f"{head}: attainment {shown}, goodput {goodput or 0:.2f} req/s"


class SLO(BaseModel):
    """Per-request latency limits (milliseconds) and the share of requests that must meet them."""

    model_config = ConfigDict(extra="forbid")

    ttft_ms: _Ms | None = Field(None, description="Time to first token limit, ms (from the schedule in open loop)")
    ttlt_ms: _Ms | None = Field(None, description="Time to last token limit, ms (from the schedule in open loop)")
    tpot_ms: _Ms | None = Field(None, description="Time per output token limit, ms")
    itl_ms: _Ms | None = Field(None, description="Inter-token latency (mean gap between tokens) limit, ms")
    percentile: float = Field(
        90.0,
        gt=0,
        le=100,
        strict=True,
        allow_inf_nan=False,
        description="Share of requests (%) that must meet every limit",
    )
    max_error_rate: float = Field(
        0.01,
        ge=0,
        le=1,
        strict=True,
        allow_inf_nan=False,
        description="Highest share of failed requests a passing run may have",
    )

    @classmethod
    def parse(cls, value: "SLO | dict[str, Any] | None", field: str = "slo") -> "SLO | None":
        """An SLO from a mapping (a Runner option), every problem in one ConfigError
        (``slo.ttft_ms: ...``)."""
        if value is None or isinstance(value, SLO):
            return value
        if not isinstance(value, dict):
            raise ConfigError(field, f"must be a mapping of limits (ttft_ms, ttlt_ms...), got {value!r}")
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            from .spec import validation_problems

            raise validation_problems(exc, prefix=f"{field}.").error("invalid slo") from None

    def limits(self) -> dict[str, float]:
        """The limits set, in ms, by name."""
        return {name: getattr(self, name) for name in LIMITS if getattr(self, name) is not None}

    @property
    def target(self) -> float:
        """The attainment a passing run needs (0-1)."""
        return self.percentile / 100.0

    def describe(self) -> str:
        """``ttft_ms p90 <= 500 ms, errors <= 1%``: the SLO in one phrase."""
        pct = f"p{self.percentile:g}"
        parts = [f"{name.removesuffix('_ms')} {pct} <= {limit:g} ms" for name, limit in self.limits().items()]
        parts.append(f"errors <= {self.max_error_rate:.1%}".replace(".0%", "%"))
        return ", ".join(parts)

    def checker(self, open_loop: bool) -> Callable[["InvocationResponse"], bool]:
        """The per-request rule as a fast closure (the runner calls it once per response)."""
        checks = tuple(
            (slo_metric(name, open_loop), limit / 1000.0, LIMITS[name][2]) for name, limit in self.limits().items()
        )

        def met(response: "InvocationResponse") -> bool:
            if response.error is not None or response.error_type is not None:
                return False
            for attr, limit_s, missing_meets in checks:
                value = getattr(response, attr)
                if value is None:
                    if not missing_meets:
                        return False
                elif value > limit_s:
                    return False
            return True

        return met

    def stats(self, running: "RunningStats", stats: dict[str, Any]) -> dict[str, Any]:
        """The SLO's stats.json keys, from the run's ``RunningStats`` and the stats computed
        from it (``requests_per_minute``, ``output_tps``, ``failed_requests_rate``, ``load_mode``)."""
        open_loop = stats.get("load_mode") == "rate"
        total = running.total_requests
        met = running.slo_met_requests
        attainment = met / total if total else None
        sent_rate = stats.get("achieved_rate") if open_loop else None
        if sent_rate is None and stats.get("requests_per_minute"):
            sent_rate = stats["requests_per_minute"] / 60.0
        out: dict[str, Any] = {
            "slo_attainment": attainment,
            "goodput": attainment * sent_rate if attainment is not None and sent_rate else None,
        }
        tps, tokens = stats.get("output_tps"), running.total_output_tokens
        out["goodput_output_tps"] = tps * running.slo_met_output_tokens / tokens if tps and tokens else None
        observed: dict[str, float | None] = {}
        for name in self.limits():
            values = running.metric_values(slo_metric(name, open_loop))
            value = float(np.percentile(values, self.percentile, method="linear")) * 1000 if values.size else None
            observed[name] = value
            out[f"slo_observed_{name}"] = value
        reasons = self._reasons(total, attainment, stats.get("failed_requests_rate") or 0.0, observed)
        out["slo_passed"] = not reasons
        out["slo_failed_reason"] = "; ".join(reasons) or None
        return out

    def _reasons(
        self, total: int, attainment: float | None, error_rate: float, observed: dict[str, float | None]
    ) -> list[str]:
        if not total or attainment is None:
            return ["no requests measured"]
        pct = f"p{self.percentile:g}"
        reasons = []
        for name, limit in self.limits().items():
            value = observed[name]
            if value is None:
                if not LIMITS[name][2]:  # tpot/itl: no gaps to measure (single-token replies) meet them
                    reasons.append(f"{name}: no successful request reported it")
            elif value > limit:
                reasons.append(f"{name}: {pct} {value:,.0f} ms > {limit:g} ms (+{value / limit - 1:.0%})")
        if attainment < self.target:
            reasons.append(f"attainment {attainment:.1%} < {self.target:.0%} of requests meeting every limit")
        if error_rate > self.max_error_rate:
            reasons.append(f"error rate {error_rate:.1%} > {self.max_error_rate:.1%}")
        return reasons
