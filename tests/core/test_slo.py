"""SLOs: the spec's one-line errors, which requests meet it, attainment, goodput and the verdict."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from llmeter_core.errors import ConfigError
from llmeter_core.response import InvocationResponse
from llmeter_core.slo import SLO
from llmeter_core.spec import parse_spec
from llmeter_core.stats import RunningStats

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _ok(ttft: float, ttlt: float = 0.5, i: int = 0, **extra) -> InvocationResponse:
    return InvocationResponse(
        time_to_first_token=ttft,
        time_to_last_token=ttlt,
        num_tokens_output=10,
        request_time=T0 + timedelta(seconds=i),
        **extra,
    )


def _judged(slo: SLO, responses: list[InvocationResponse], open_loop: bool = False) -> dict:
    met = slo.checker(open_loop)
    running = RunningStats()
    for r in responses:
        r.slo_met = met(r)
        running.update(r)
    stats = running.to_stats(T0 + timedelta(seconds=len(responses)))
    stats["load_mode"] = "rate" if open_loop else "clients"
    return {**stats, **slo.stats(running, stats)}


@pytest.mark.parametrize(
    "raw, field",
    [
        ({"ttft_ms": -5}, "slo.ttft_ms"),
        ({"ttft_ms": "fast"}, "slo.ttft_ms"),
        ({"percentile": 120}, "slo.percentile"),
        ({"max_error_rate": 2}, "slo.max_error_rate"),
        ({"ttft": 500}, "slo.ttft"),
    ],
)
def test_a_bad_slo_is_one_line_naming_the_field(raw, field):
    with pytest.raises(ConfigError) as info:
        SLO.parse(raw)
    assert info.value.field == field and "\n" not in str(info.value)


def test_a_spec_file_takes_an_slo_block_and_refuses_a_bad_one():
    base = {
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1"},
        "load": {"clients": 1, "n_requests": 1},
        "payloads": {"prompts": ["hi"]},
    }
    spec = parse_spec({**base, "slo": {"ttft_ms": 500, "percentile": 95}})
    assert spec.slo == SLO(ttft_ms=500, percentile=95)
    with pytest.raises(ConfigError, match=r"slo\.itl_ms"):
        parse_spec({**base, "slo": {"itl_ms": 0}})


def test_per_request_failed_and_incomplete_requests_never_meet_it():
    met = SLO(ttft_ms=100).checker(open_loop=False)
    assert met(_ok(0.05)) and not met(_ok(0.15))
    assert not met(InvocationResponse(time_to_first_token=0.01, error="boom", error_type="http_500"))
    assert not met(InvocationResponse(error="cancelled", error_type="incomplete"))
    assert not met(_ok(None))  # type: ignore[arg-type]  # no time to first token: cannot be shown to meet it


def test_open_loop_limits_apply_from_the_schedule_so_the_client_queue_counts():
    r = _ok(0.05, time_to_first_token_from_schedule=0.3)
    slo = SLO(ttft_ms=100)
    assert slo.checker(open_loop=False)(r) and not slo.checker(open_loop=True)(r)


def test_a_single_token_reply_meets_the_inter_token_limits():
    met = SLO(tpot_ms=10, itl_ms=10).checker(open_loop=False)
    assert met(_ok(0.05)) and not met(_ok(0.05, time_per_output_token=0.02))


def test_attainment_goodput_and_a_passing_verdict():
    responses = [_ok(0.05, i=i) for i in range(19)] + [_ok(0.2, i=19)]
    stats = _judged(SLO(ttft_ms=100, percentile=90), responses)
    assert stats["slo_attainment"] == pytest.approx(0.95)
    assert stats["goodput"] == pytest.approx(0.95 * stats["requests_per_minute"] / 60)
    assert stats["goodput_output_tps"] == pytest.approx(stats["output_tps"] * 19 / 20)
    assert stats["slo_passed"] is True and stats["slo_failed_reason"] is None
    assert stats["slo_observed_ttft_ms"] == pytest.approx(50.0)


def test_a_failing_verdict_names_the_limit_and_by_how_much():
    responses = [_ok(0.05, i=i) for i in range(10)] + [_ok(0.8, i=10 + i) for i in range(10)]
    stats = _judged(SLO(ttft_ms=500), responses)
    assert stats["slo_passed"] is False
    assert "ttft_ms: p90 800 ms > 500 ms (+60%)" in stats["slo_failed_reason"]
    assert "attainment 50.0% < 90%" in stats["slo_failed_reason"]


def test_errors_beyond_max_error_rate_fail_the_run():
    responses = [_ok(0.05, i=i) for i in range(97)]
    responses += [InvocationResponse(error="x", error_type="http_500", request_time=T0) for _ in range(3)]
    stats = _judged(SLO(ttft_ms=500, max_error_rate=0.01), responses)
    assert stats["slo_attainment"] == pytest.approx(0.97)
    assert stats["slo_passed"] is False and "error rate 3.0% > 1.0%" in stats["slo_failed_reason"]


def test_responses_jsonl_has_slo_met_only_when_the_run_has_an_slo():
    plain = _ok(0.05)
    assert b"slo_met" not in plain.to_json()
    plain.slo_met = True
    line = json.loads(plain.to_json())
    assert line["slo_met"] is True
    assert InvocationResponse.from_dict(line).slo_met is True


def test_merged_shards_keep_the_slo_counts():
    slo = SLO(ttft_ms=100)
    met = slo.checker(False)
    a, b = RunningStats(), RunningStats()
    for i, r in enumerate([_ok(0.05, i=0), _ok(0.2, i=1), _ok(0.05, i=2)]):
        r.slo_met = met(r)
        (a if i < 2 else b).update(r)
    merged = a.merge(b)
    assert (merged.slo_met_requests, merged.slo_met_output_tokens) == (2, 20)


def test_a_run_of_single_token_replies_passes_its_inter_token_limits():
    responses = [_ok(0.05, i=i) for i in range(5)]  # no time_per_output_token, no inter_token_latency
    stats = _judged(SLO(ttft_ms=100, itl_ms=10, tpot_ms=10), responses)
    assert stats["slo_passed"] is True and stats["slo_observed_itl_ms"] is None
    missing_ttft = [InvocationResponse(time_to_last_token=0.1, request_time=T0) for _ in range(3)]
    assert _judged(SLO(ttft_ms=100), missing_ttft)["slo_failed_reason"].startswith("ttft_ms: no successful request")


def test_the_live_display_and_artifacts_show_the_slo_group():
    from llmeter_core.live import grouped_rows

    stats = _judged(SLO(ttft_ms=100), [_ok(0.05, i=0), _ok(0.5, i=1)])
    rows = {(g, label): value for g, label, value in grouped_rows(stats)}
    assert rows[("SLO", "attainment (%)")] == "50.0" and rows[("SLO", "verdict")].startswith("FAIL: ttft_ms: p90")
    assert not [r for r in grouped_rows({"total_requests": 1}) if r[0] == "SLO"]


def test_the_cli_summary_line_says_the_verdict():
    from llmeter_core.slo import slo_line

    assert slo_line({"total_requests": 3}) is None
    passed = slo_line(_judged(SLO(ttft_ms=100), [_ok(0.05, i=0), _ok(0.05, i=1)]))
    assert passed is not None and passed.startswith("SLO passed: attainment 100.0%, goodput ")
    failed = slo_line(_judged(SLO(ttft_ms=100), [_ok(0.5, i=0), _ok(0.5, i=1)]))
    assert failed is not None and failed.startswith("SLO FAILED (ttft_ms: p90 500 ms > 100 ms (+400%)")
