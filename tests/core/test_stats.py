"""Stats with numbers a reader can check by hand."""

from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from llmeter_core.response import INCOMPLETE, InvocationResponse
from llmeter_core.stats import AGGREGATES, METRICS, RunningStats, percentile

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def ok(ttft, ttlt, n_in=10, n_out=5, at=0.0, cached=None):
    return InvocationResponse(
        time_to_first_token=ttft,
        time_to_last_token=ttlt,
        num_tokens_input=n_in,
        num_tokens_output=n_out,
        num_tokens_input_cached=cached,
        request_time=T0 + timedelta(seconds=at),
    )


def test_percentiles_stay_inside_the_data():
    # LLMeter's "exclusive" method gave p99 = 10.89 for 1..10; linear gives 9.91.
    assert percentile(range(1, 11), 99) == pytest.approx(9.91)
    assert percentile(range(1, 11), 50) == pytest.approx(5.5)


def test_hand_checked_aggregates():
    stats = RunningStats.from_responses(ok(t, t * 2, at=i) for i, t in enumerate([0.1, 0.2, 0.3, 0.4]))
    out = stats.to_stats(end_time=T0 + timedelta(seconds=6))
    assert out["time_to_first_token-average"] == pytest.approx(0.25)
    assert out["time_to_first_token-min"] == pytest.approx(0.1)
    assert out["time_to_first_token-max"] == pytest.approx(0.4)
    assert out["time_to_first_token-p50"] == pytest.approx(0.25)
    assert out["time_to_last_token-p90"] == pytest.approx(0.74)  # rank 2.7 between 0.6 and 0.8
    # 4 requests sent over 3 s -> 80 per minute (send window, not the 6 s run)
    assert out["requests_per_minute"] == pytest.approx(80.0)
    # 20 output tokens over first request -> end (6 s)
    assert out["output_tps"] == pytest.approx(20 / 6)
    assert out["average_output_tokens_per_minute"] == pytest.approx(200.0)
    assert out["average_input_tokens_per_minute"] == pytest.approx(400.0)
    assert out["total_input_tokens"] == 40 and out["total_output_tokens"] == 20


def test_every_metric_has_every_aggregate_key():
    out = RunningStats.from_responses([ok(0.1, 0.2, cached=3)]).to_stats(T0 + timedelta(seconds=1))
    for metric in METRICS:
        for agg in AGGREGATES:
            assert f"{metric}-{agg}" in out
    assert out["num_tokens_input_cached-p50"] == 3
    assert out["total_cached_input_tokens"] == 3
    assert out["time_per_output_token-p50"] is None  # no response reported it
    assert out["requests_per_minute"] is None  # one request: no send window


def test_failures_are_counted_not_mixed_into_latency():
    responses = [ok(0.1, 0.2, at=0), ok(0.1, 0.2, at=1)]
    responses.append(
        InvocationResponse(
            time_to_first_token=9.0, time_to_last_token=9.0, error="boom", error_type="http_500", request_time=T0
        )
    )
    responses.append(
        InvocationResponse(error="cancelled", error_type=INCOMPLETE, request_time=T0 + timedelta(seconds=2))
    )
    out = RunningStats.from_responses(responses).to_stats(T0 + timedelta(seconds=3))
    assert out["time_to_first_token-max"] == pytest.approx(0.1)
    assert out["failed_requests"] == 1
    assert out["incomplete_requests"] == 1
    assert out["failed_requests_rate"] == pytest.approx(0.25)
    assert out["errors"] == {"http_500": 1, "incomplete": 1}
    assert out["total_requests"] == 4
    assert out["requests_per_minute"] == pytest.approx(4 * 60 / 2)


def test_merge_is_exact():
    rng = np.random.default_rng(1)
    responses = [ok(float(a), float(a + b), at=float(i)) for i, (a, b) in enumerate(rng.random((101, 2)))]
    responses[7].error, responses[7].error_type = "x", "ThrottlingException"
    whole = RunningStats.from_responses(responses)
    merged = RunningStats.from_responses(responses[:40]).merge(RunningStats.from_responses(responses[40:]))
    end = T0 + timedelta(seconds=200)
    assert merged.to_stats(end) == whole.to_stats(end)


def test_matches_numpy_over_all_values():
    rng = np.random.default_rng(2)
    values = rng.lognormal(size=500)
    out = RunningStats.from_responses(ok(float(v), float(v) + 1, at=i) for i, v in enumerate(values)).to_stats(None)
    for p in (50, 90, 95, 99):
        assert out[f"time_to_first_token-p{p}"] == pytest.approx(float(np.percentile(values, p)))
    assert out["output_tps"] is None  # no end time given


def test_values_handed_out_do_not_block_further_updates():
    stats = RunningStats.from_responses([ok(0.1, 0.2)])
    held = stats.metric_values("time_to_first_token")
    stats.update(ok(0.3, 0.4, at=1))  # raised BufferError when a view was handed out
    assert list(held) == [0.1] and stats.to_stats(None)["time_to_first_token-max"] == 0.3
