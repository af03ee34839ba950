"""Per-metric comparison of a candidate run with its baseline, with a verdict per metric.

For every compared metric: the baseline and candidate values (the runs' own stats), the
change (relative; for the error rate in absolute points), a confidence interval of that
change from bootstrap replicates of both runs (``bootstrap.py``, seeded), and a verdict:

- ``regressed``: the change is statistically significant at ``confidence`` (the interval
  excludes no change) AND worse than the metric's practical threshold;
- ``improved``: the same, better;
- ``unchanged``: anything else; ``n/a`` when a side has no value or no samples to test.

Both conditions matter: with many requests a 2 % drift is significant but not worth a
failed night; with few, a 30 % jump can be noise. On top of the metrics, an error type the
candidate has and no baseline run had is a regression (``incomplete`` excepted: requests cut
by the end of a run are not failures).

A baseline is one run or several (the median of the last N nights): with several, the
baseline value is the median of their values and its replicates resample the nights too.
"""

from __future__ import annotations

import zlib
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

import numpy as np

from .bootstrap import interval, median_over_runs, percentile_replicates, proportion_replicates, ratio_replicates
from .errors import ConfigError
from .response import INCOMPLETE
from .samples import LATENCY_METRICS, RunSamples, describe_point

__all__ = ["MetricDef", "COMPARED", "CompareSettings", "MetricResult", "Comparison", "compare_samples", "short_name"]

PERCENTILES: tuple[int, ...] = (50, 90, 99)


@dataclass(frozen=True)
class MetricDef:
    """A compared metric: its stats.json key, how it is resampled, which way is worse."""

    key: str
    kind: str  # "percentile" | "rate" | "proportion"
    higher_is_worse: bool
    source: str = ""
    q: float = 0.0

    @property
    def absolute(self) -> bool:
        """Proportions change in absolute points (0 % -> 5 % has no relative change)."""
        return self.kind == "proportion"


COMPARED: tuple[MetricDef, ...] = tuple(
    MetricDef(f"{m}-p{q}", "percentile", True, m, q) for m in LATENCY_METRICS for q in PERCENTILES
) + (
    MetricDef("requests_per_minute", "rate", False),
    MetricDef("output_tps", "rate", False),
    MetricDef("failed_requests_rate", "proportion", True),
)
_BY_KEY = {m.key: m for m in COMPARED}
_SHORT = {
    "time_to_first_token": "TTFT",
    "time_to_last_token": "TTLT",
    "time_per_output_token": "TPOT",
    "requests_per_minute": "req/min",
    "output_tps": "output tok/s",
    "failed_requests_rate": "error rate",
}


def short_name(key: str) -> str:
    """``TTFT p90`` for ``time_to_first_token-p90``."""
    base, _, agg = key.partition("-")
    return f"{_SHORT.get(base, base)} {agg}".strip()


@dataclass(frozen=True)
class CompareSettings:
    """Thresholds, confidence and bootstrap size of a comparison.

    ``thresholds`` overrides the practical threshold per metric: an exact key
    (``time_to_first_token-p90``), a metric family (``time_to_first_token``: all its
    percentiles) or ``default`` (every relative metric). Relative thresholds are fractions
    (0.05 = 5 %); ``failed_requests_rate``'s is in absolute points of rate (0.01 = 1 point).
    """

    confidence: float = 0.99
    thresholds: Mapping[str, float] = field(default_factory=dict)
    default_threshold: float = 0.10
    error_rate_threshold: float = 0.01
    replicates: int = 10_000
    rate_replicates: int = 2_000
    seed: int = 0

    @classmethod
    def build(
        cls,
        thresholds: Mapping[str, Any] | None = None,
        confidence: Any = 0.99,
        seed: int = 0,
        threshold_field: str = "regression.threshold.{key}",
        confidence_field: str = "regression.confidence",
    ) -> "CompareSettings":
        """Validated settings; a bad key or value is a ConfigError naming its field (as the
        suite file or the command line spells it)."""
        if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0.5 <= confidence < 1:
            raise ConfigError(confidence_field, f"must be a number in [0.5, 1), got {confidence!r}")
        known = set(_BY_KEY) | set(LATENCY_METRICS) | {"default"}
        checked: dict[str, float] = {}
        for key, value in (thresholds or {}).items():
            name = threshold_field.format(key=key)
            if key not in known:
                raise ConfigError(
                    name,
                    f"unknown metric; expected default, a family ({', '.join(LATENCY_METRICS)}) "
                    f"or one of {', '.join(_BY_KEY)}",
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 100:
                raise ConfigError(name, f"must be a number >= 0 (a fraction: 0.05 = 5 %), got {value!r}")
            checked[key] = float(value)
        return cls(confidence=float(confidence), thresholds=checked, seed=seed)

    def threshold_for(self, metric: MetricDef) -> float:
        for key in (metric.key, metric.source):
            if key and key in self.thresholds:
                return self.thresholds[key]
        if metric.absolute:
            return self.error_rate_threshold
        return self.thresholds.get("default", self.default_threshold)


@dataclass
class MetricResult:
    """One metric of one comparison; ``change`` is relative, or absolute when ``absolute``."""

    metric: str
    baseline: float | None
    candidate: float | None
    change: float | None
    ci_low: float | None
    ci_high: float | None
    threshold: float
    absolute: bool
    verdict: str


@dataclass
class Comparison:
    """A candidate run against its baseline (one run, or the median of several)."""

    endpoint: str | None
    clients: int | None
    rate: float | None
    candidate_url: str | None
    baseline_urls: list[str]
    metrics: list[MetricResult]
    new_error_types: dict[str, int]
    confidence: float
    differences: list[dict[str, Any]] = field(default_factory=list)

    @property
    def point(self) -> str:
        return describe_point(self.clients, self.rate)

    @property
    def regressions(self) -> list[MetricResult]:
        return [m for m in self.metrics if m.verdict == "regressed"]

    @property
    def verdict(self) -> str:
        if self.new_error_types or self.regressions:
            return "regressed"
        if any(m.verdict == "improved" for m in self.metrics):
            return "improved"
        return "unchanged"

    def findings(self) -> list[str]:
        """One phrase per regression, errors first: ``new error type http_500 (12)``,
        ``TTFT p90 +23% (CI +18..+28%)``."""
        out = [f"new error type {kind} ({count})" for kind, count in sorted(self.new_error_types.items())]
        errors_first = sorted(self.regressions, key=lambda m: m.metric != "failed_requests_rate")
        return out + [f"{short_name(m.metric)} {format_change(m)}" for m in errors_first]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(verdict=self.verdict, point=self.point, findings=self.findings())
        return out


def format_change(m: MetricResult) -> str:
    """``+23% (CI +18..+28%)``, or ``+5.0 pts (CI +1.2..+8.8 pts)`` for the error rate."""
    if m.change is None:
        return "n/a"
    if m.absolute:
        text = f"{m.change * 100:+.1f} pts"
        ci = (
            f" (CI {m.ci_low * 100:+.1f}..{m.ci_high * 100:+.1f} pts)"
            if m.ci_low is not None and m.ci_high is not None
            else ""
        )
    else:
        text = f"{m.change * 100:+.0f}%"
        ci = (
            f" (CI {m.ci_low * 100:+.0f}..{m.ci_high * 100:+.0f}%)"
            if m.ci_low is not None and m.ci_high is not None
            else ""
        )
    return text + ci


def _rng(settings: CompareSettings, metric: str, side: int) -> np.random.Generator:
    """A generator per metric and side: results do not depend on the order of comparisons."""
    return np.random.default_rng([settings.seed, zlib.crc32(metric.encode()), side])


def _replicates(
    run: RunSamples, metric: MetricDef, settings: CompareSettings, rng: np.random.Generator
) -> np.ndarray | None:
    point = run.stats.get(metric.key)
    if metric.kind == "proportion":
        return proportion_replicates(run.failed, run.total, settings.replicates, rng)
    if not run.has_samples or not isinstance(point, (int, float)):
        return None
    if metric.kind == "percentile":
        values = run.values.get(metric.source)
        return (
            percentile_replicates(values, metric.q, settings.replicates, rng)
            if values is not None and values.size
            else None
        )
    gaps = np.diff(run.send_times)
    if gaps.size < 2 or gaps.sum() <= 0:
        return None
    numerator = run.output_tokens[1:] if metric.key == "output_tps" else np.ones_like(gaps)
    observed = numerator.sum() / gaps.sum()
    if observed <= 0:
        return None
    # Scaled so the replicates centre on the run's own stats value (its formula differs slightly).
    return point * ratio_replicates(numerator, gaps, settings.rate_replicates, rng) / observed


def _number(value: Any) -> float | None:
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and np.isfinite(value) else None
    )


def _compare_metric(
    metric: MetricDef, baseline: list[RunSamples], candidate: RunSamples, settings: CompareSettings
) -> MetricResult:
    threshold = settings.threshold_for(metric)
    base_points = [p for p in (_number(r.stats.get(metric.key)) for r in baseline) if p is not None]
    base = float(np.median(base_points)) if base_points else None
    cand = _number(candidate.stats.get(metric.key))
    result = MetricResult(metric.key, base, cand, None, None, None, threshold, metric.absolute, "n/a")
    if base is None or cand is None or (not metric.absolute and base <= 0):
        return result
    result.change = cand - base if metric.absolute else cand / base - 1.0
    base_rng, cand_rng = _rng(settings, metric.key, 0), _rng(settings, metric.key, 1)
    per_run = [
        _replicates(r, metric, settings, base_rng) for r in baseline if _number(r.stats.get(metric.key)) is not None
    ]
    cand_reps = _replicates(candidate, metric, settings, cand_rng)
    if cand_reps is None or not per_run or any(r is None for r in per_run):
        return result
    base_reps = median_over_runs([r for r in per_run if r is not None], base_rng)
    with np.errstate(divide="ignore", invalid="ignore"):
        change_reps = cand_reps - base_reps if metric.absolute else cand_reps / base_reps - 1.0
    result.ci_low, result.ci_high = interval(change_reps, settings.confidence)
    if result.ci_low is None or result.ci_high is None:
        return result
    worse = result.change if metric.higher_is_worse else -result.change
    significant_worse = result.ci_low > 0 if metric.higher_is_worse else result.ci_high < 0
    significant_better = result.ci_high < 0 if metric.higher_is_worse else result.ci_low > 0
    if worse > threshold and significant_worse:
        result.verdict = "regressed"
    elif -worse > threshold and significant_better:
        result.verdict = "improved"
    else:
        result.verdict = "unchanged"
    return result


def compare_samples(
    baseline: list[RunSamples],
    candidate: RunSamples,
    settings: CompareSettings | None = None,
    differences: list[dict[str, Any]] | None = None,
) -> Comparison:
    """Compare ``candidate`` with ``baseline`` (one run, or several: their median)."""
    if not baseline:
        raise ConfigError("baseline", "no baseline run to compare with")
    settings = settings or CompareSettings()
    seen: set[str] = set()
    for run in baseline:
        seen.update(run.errors)
    new_types = {k: v for k, v in candidate.errors.items() if k not in seen and k != INCOMPLETE and v}
    return Comparison(
        endpoint=candidate.endpoint,
        clients=candidate.clients,
        rate=candidate.rate,
        candidate_url=candidate.url,
        baseline_urls=[r.url for r in baseline if r.url],
        metrics=[_compare_metric(m, baseline, candidate, settings) for m in COMPARED],
        new_error_types=new_types,
        confidence=settings.confidence,
        differences=list(differences or []),
    )
