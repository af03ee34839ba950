"""Comparison verdicts on synthetic per-request samples: noise stays unchanged, a real
slowdown or new errors regress, thresholds and confidence do what they say."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from llmeter_core.bootstrap import median_over_runs, percentile_replicates, proportion_replicates, ratio_replicates
from llmeter_core.compare import COMPARED, CompareSettings, compare_samples
from llmeter_core.errors import ConfigError
from llmeter_core.response import InvocationResponse
from llmeter_core.samples import RunSamples

T0 = datetime(2026, 11, 28, 2, 0, tzinfo=timezone.utc)


def synthetic_run(
    seed: int,
    n: int = 300,
    clients: int = 4,
    ttft_scale: float = 1.0,
    error_rate: float = 0.0,
    error_type: str = "http_500",
    url: str | None = None,
) -> RunSamples:
    """A closed-loop run of ``n`` requests: lognormal TTFT (median 50 ms), 20 tokens at ~5 ms."""
    rng = np.random.default_rng(seed)
    clocks = [0.0] * clients
    responses = []
    for i in range(n):
        client = i % clients
        ttft = 0.05 * ttft_scale * rng.lognormal(0.0, 0.3)
        itl = 0.005 * rng.lognormal(0.0, 0.1)
        ttlt = ttft + 19 * itl
        sent = T0 + timedelta(seconds=clocks[client])
        clocks[client] += ttlt + 0.001
        if rng.random() < error_rate:
            responses.append(InvocationResponse(error="server error", error_type=error_type, request_time=sent))
            continue
        responses.append(
            InvocationResponse(
                time_to_first_token=ttft,
                time_to_last_token=ttlt,
                time_per_output_token=itl,
                num_tokens_output=20,
                num_tokens_input=5,
                request_time=sent,
            )
        )
    end = T0 + timedelta(seconds=max(clocks))
    return RunSamples.from_responses(
        responses, end_time=end, url=url or f"memory://run-{seed}", endpoint="model-a", clients=clients
    )


def test_identical_settings_different_seeds_are_unchanged_in_at_least_19_of_20_trials():
    verdicts = [compare_samples([synthetic_run(2 * t)], synthetic_run(2 * t + 1)).verdict for t in range(20)]
    assert verdicts.count("unchanged") >= 19, verdicts


def test_ttft_up_20_percent_regresses_in_20_of_20_trials():
    for trial in range(20):
        result = compare_samples([synthetic_run(100 + 2 * trial)], synthetic_run(101 + 2 * trial, ttft_scale=1.2))
        assert result.verdict == "regressed", trial
        regressed = {m.metric for m in result.regressions}
        assert "time_to_first_token-p50" in regressed, regressed
        # TTLT contains TTFT, so it may follow; nothing else moved.
        assert all(m.startswith(("time_to_first_token", "time_to_last_token")) for m in regressed), regressed
        p50 = next(m for m in result.metrics if m.metric == "time_to_first_token-p50")
        assert p50.ci_low < p50.change < p50.ci_high and 0.10 < p50.change < 0.30


def test_error_rate_from_0_to_5_percent_regresses_and_names_the_new_error_type():
    result = compare_samples([synthetic_run(1)], synthetic_run(2, error_rate=0.05))
    assert result.verdict == "regressed"
    assert set(result.new_error_types) == {"http_500"} and result.new_error_types["http_500"] > 0
    rate = next(m for m in result.metrics if m.metric == "failed_requests_rate")
    assert rate.baseline == 0.0 and rate.candidate > 0.02 and rate.absolute
    assert any(f.startswith("new error type http_500") for f in result.findings())


def test_a_known_error_type_regresses_only_when_its_rate_rises_beyond_the_threshold():
    base = synthetic_run(3, n=600, error_rate=0.02, error_type="http_429")
    worse = compare_samples([base], synthetic_run(4, n=600, error_rate=0.12, error_type="http_429"))
    assert not worse.new_error_types
    assert [m.metric for m in worse.regressions] == ["failed_requests_rate"]
    same = compare_samples([base], synthetic_run(5, n=600, error_rate=0.02, error_type="http_429"))
    assert same.verdict == "unchanged"


def test_faster_is_improved_not_regressed():
    result = compare_samples([synthetic_run(7)], synthetic_run(8, ttft_scale=0.75))
    assert result.verdict == "improved"
    assert {m.metric for m in result.metrics if m.verdict == "improved"} >= {"time_to_first_token-p50"}


def test_thresholds_per_metric_and_family_and_default():
    base, cand = synthetic_run(9, n=1000), synthetic_run(10, n=1000, ttft_scale=1.2)
    default = {m.metric: m.verdict for m in compare_samples([base], cand).metrics}
    assert default["time_to_first_token-p50"] == default["time_to_first_token-p90"] == "regressed"
    loose_p50 = compare_samples([base], cand, CompareSettings.build({"time_to_first_token-p50": 0.5}))
    verdicts = {m.metric: m.verdict for m in loose_p50.metrics}
    assert verdicts["time_to_first_token-p50"] == "unchanged" and verdicts["time_to_first_token-p90"] == "regressed"
    loose_family = compare_samples([base], cand, CompareSettings.build({"time_to_first_token": 0.5}))
    assert loose_family.verdict == "unchanged"
    loose_all = compare_samples([base], cand, CompareSettings.build({"default": 0.5}))
    assert loose_all.verdict == "unchanged"
    threshold = next(m for m in loose_all.metrics if m.metric == "failed_requests_rate").threshold
    assert threshold == 0.01  # the error rate keeps its own threshold, in points


def test_a_significant_but_small_change_is_unchanged():
    """With many requests a 4 % slowdown is significant, but below the 10 % threshold."""
    result = compare_samples([synthetic_run(11, n=4000)], synthetic_run(12, n=4000, ttft_scale=1.04))
    p50 = next(m for m in result.metrics if m.metric == "time_to_first_token-p50")
    assert p50.ci_low > 0 and p50.verdict == "unchanged"


def test_results_are_seeded():
    base, cand = synthetic_run(13), synthetic_run(14)
    first = compare_samples([base], cand, CompareSettings(seed=5))
    again = compare_samples([base], cand, CompareSettings(seed=5))
    other = compare_samples([base], cand, CompareSettings(seed=6))
    assert [(m.ci_low, m.ci_high) for m in first.metrics] == [(m.ci_low, m.ci_high) for m in again.metrics]
    assert [(m.ci_low, m.ci_high) for m in first.metrics] != [(m.ci_low, m.ci_high) for m in other.metrics]


def test_a_baseline_of_several_runs_uses_their_median():
    nights = [synthetic_run(20), synthetic_run(21, ttft_scale=1.5), synthetic_run(22)]
    result = compare_samples(nights, synthetic_run(23))
    p50 = next(m for m in result.metrics if m.metric == "time_to_first_token-p50")
    values = sorted(n.stats["time_to_first_token-p50"] for n in nights)
    assert p50.baseline == pytest.approx(values[1])
    assert result.baseline_urls == [n.url for n in nights]
    assert result.verdict == "unchanged"


def test_missing_values_are_not_applicable():
    no_streaming = synthetic_run(30)
    no_streaming.stats["time_to_first_token-p50"] = None
    result = compare_samples([no_streaming], synthetic_run(31))
    assert next(m for m in result.metrics if m.metric == "time_to_first_token-p50").verdict == "n/a"


def test_every_compared_metric_has_a_verdict():
    result = compare_samples([synthetic_run(40)], synthetic_run(41))
    assert [m.metric for m in result.metrics] == [m.key for m in COMPARED]
    assert all(m.verdict in ("unchanged", "improved", "regressed") for m in result.metrics)


@pytest.mark.parametrize(
    "thresholds, confidence, field",
    [
        ({"ttft": 0.1}, 0.99, "regression.threshold.ttft"),
        ({"time_to_first_token-p90": -1}, 0.99, "regression.threshold.time_to_first_token-p90"),
        ({"default": "x"}, 0.99, "regression.threshold.default"),
        ({}, 1.0, "regression.confidence"),
        ({}, 0.2, "regression.confidence"),
    ],
)
def test_bad_settings_name_the_field(thresholds, confidence, field):
    with pytest.raises(ConfigError) as caught:
        CompareSettings.build(thresholds, confidence)
    assert caught.value.field == field


@pytest.mark.parametrize("n", [2, 7, 50, 333])
@pytest.mark.parametrize("q", [50, 90, 99])
def test_order_statistic_bootstrap_matches_resampling(n, q):
    """The fast percentile replicates have the distribution of the brute-force bootstrap."""
    x = np.sort(np.random.default_rng(n).lognormal(0.0, 0.5, n))
    fast = percentile_replicates(x, q, 100_000, np.random.default_rng(1))
    index = np.random.default_rng(2).integers(0, n, size=(20_000, n))
    brute = np.percentile(x[index], q, axis=1)
    for level in (0.05, 0.25, 0.5, 0.75, 0.95):
        assert np.quantile(fast, level) == pytest.approx(np.quantile(brute, level), rel=0.03, abs=1e-9)


def test_other_replicates():
    rng = np.random.default_rng(0)
    ratio = ratio_replicates(np.ones(400), np.full(400, 0.5), 500, rng)
    assert np.allclose(ratio, 2.0)
    assert proportion_replicates(0, 100, 50, rng).max() == 0.0
    assert abs(proportion_replicates(10, 100, 20_000, rng).mean() - 0.1) < 0.005
    single = np.arange(5.0)
    assert median_over_runs([single], rng) is single
    assert median_over_runs([np.zeros(1000), np.ones(1000), np.full(1000, 2.0)], rng).mean() == pytest.approx(
        1.0, abs=0.1
    )
