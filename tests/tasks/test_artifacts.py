"""What the UI shows, formatted without Prefect: keys, the metrics table, live markdown."""

import json
import math

import numpy as np

from llmeter_core.live import LiveSnapshot
from tasks.artifacts import (
    artifact_key,
    live_log_line,
    live_markdown,
    metrics_description,
    metrics_table,
    plain,
)

STATS = {
    "total_requests": 40,
    "failed_requests": 2,
    "failed_requests_rate": 0.05,
    "requests_per_minute": 1281.23456,
    "output_tps": 412.0,
    "time_to_first_token-p50": 0.10712,
    "time_to_first_token-p90": 0.2,
    "time_to_first_token-p99": 0.3,
    "time_to_last_token-p50": 0.32,
    "errors": {"http_429": 2},
}


def test_keys_are_lowercase_letters_digits_and_dashes():
    assert artifact_key("Nightly Suite", "GPT-4o_mini", "live") == "nightly-suite-gpt-4o-mini-live"
    assert artifact_key("", "") == "llmeter"


def test_plain_values_are_json_safe():
    assert plain(np.float64(0.123456789)) == 0.1235
    assert plain(np.int64(3)) == 3 and isinstance(plain(np.int64(3)), int)
    assert plain(float("nan")) is None and plain(math.inf) is None


def test_metrics_table_fits_one_page_in_ms_with_no_rate_under_average():
    rows = metrics_table(STATS)
    assert len(rows) <= 10  # the UI shows 10 rows per page
    by_metric = {r["metric"]: r for r in rows}
    ttft = by_metric["TTFT (ms)"]
    assert (ttft["p50"], ttft["p90"], ttft["p99"]) == (107.12, 200.0, 300.0)
    assert by_metric["TTLT (ms)"]["p50"] == 320.0
    assert by_metric["num_tokens_output (tokens)"]["average"] is None
    assert all(r["metric"].endswith(("(ms)", "(tokens)")) for r in rows)  # every row names its unit
    shown = json.dumps(rows)
    for rate in ("requests_per_minute", "output_tps", "failed_requests_rate", "completed_requests_per_second"):
        assert rate not in shown  # run-wide rates are not per-request averages
    assert all(set(r) == set(rows[0]) for r in rows)  # one set of columns


def test_the_run_wide_rates_are_in_the_description_in_display_units():
    text = metrics_description("r", {**STATS, "completed_requests_per_second": 37.31})
    assert "Throughput 37.31 req/s, Requests sent 1,281.2 req/min, Output 412.0 tok/s, Failed 5.0 %" in text
    assert "latencies in ms" in text and "seconds" not in text


def test_metrics_description_counts_and_errors():
    text = metrics_description("00004-clients", {**STATS, "interrupted": True, "incomplete_requests": 1})
    assert "00004-clients (interrupted, partial run saved)" in text
    assert "40 requests, 2 failed, 1 incomplete" in text and "http_429 2" in text


def _snapshot(**kw) -> LiveSnapshot:
    base = dict(
        run_name="00004-clients",
        elapsed_s=2.5,
        requests_sent=22,
        responses_done=20,
        in_flight=2,
        expected_requests=40,
        run_duration=None,
        progress=0.5,
        stats=STATS,
    )
    base.update(kw)
    return LiveSnapshot(**base)


def test_live_markdown_shows_progress_and_grouped_stats():
    text = live_markdown(_snapshot())
    assert "00004-clients: running" in text
    assert "**20/40** responses" in text and "(50%)" in text
    assert "| TTFT (ms) | p50 | 107.1 |" in text and "(s)" not in text
    assert "| Throughput | sent (req/min) | 1,281.2 |" in text and "| Errors | failure rate (%) | 5.0 |" in text
    assert "| Errors | http_429 | 2 |" in text
    final = live_markdown(_snapshot(final=True, interrupted=True, progress=0.6))
    assert "interrupted (partial run saved)" in final


def test_log_line_is_one_line_with_the_key_numbers():
    line = live_log_line(_snapshot())
    assert "\n" not in line
    assert "20/40 done (50%)" in line and "1,281 req/min" in line and "TTFT p50/p90/p99 107/200/300 ms" in line


def test_the_final_metrics_description_says_the_slo_verdict():
    from llmeter_core.slo import SLO
    from llmeter_core.stats import RunningStats
    from tasks.artifacts import metrics_description

    running = RunningStats()
    stats = {"load_mode": "clients", "requests_per_minute": 120.0, "total_requests": 2, "failed_requests_rate": 0.0}
    running.total_requests, running.slo_met_requests = 2, 2
    stats.update(SLO().stats(running, stats))
    assert metrics_description("r", stats).endswith(" SLO passed: attainment 100.0%, goodput 2.00 req/s.")
    assert "SLO" not in metrics_description("r", {"total_requests": 1})


ESTIMATED = {
    **STATS,
    "completed_requests_per_second": 37.31,
    "num_tokens_output_sources": {"stream": 30, "usage": 8},
    "num_tokens_input_sources": {"tokenizer": 38},
}


def test_estimated_token_counts_are_flagged_in_every_artifact():
    note = "estimated token counts: output stream 30; input tokenizer 38"
    assert note in metrics_description("r", ESTIMATED)
    assert note in live_markdown(_snapshot(stats=ESTIMATED))
    assert "tok/s (estimated)" in live_log_line(_snapshot(stats=ESTIMATED))
    usage_only = {**STATS, "num_tokens_output_sources": {"usage": 38}, "num_tokens_input_sources": {"usage": 38}}
    assert "estimated" not in metrics_description("r", usage_only) + live_markdown(_snapshot(stats=usage_only))
    assert "estimated" not in live_log_line(_snapshot(stats=usage_only))


def test_throughput_is_shown_as_completed_requests_per_second():
    assert "Throughput 37.31 req/s" in metrics_description("r", ESTIMATED)
    assert "throughput (req/s) | 37.31 |" in live_markdown(_snapshot(stats=ESTIMATED))
    assert "throughput 37.31 req/s" in live_log_line(_snapshot(stats=ESTIMATED))


def test_a_reasoning_streams_table_keeps_to_one_page():
    stats = dict(ESTIMATED)
    for agg in ("average", "p50", "p90", "p99", "max"):
        for name, value in (
            ("time_to_first_token", 0.1),
            ("time_to_first_content_token", 0.3),
            ("time_to_last_token", 0.5),
            ("time_to_end", 0.51),
            ("time_per_output_token", 0.01),
            ("max_inter_token_latency", 0.02),
            ("num_tokens_output", 40),
            ("num_tokens_input", 5),
        ):
            stats[f"{name}-{agg}"] = value
    rows = [r["metric"] for r in metrics_table(stats)]
    assert len(rows) <= 10
    assert "first content token (ms)" in rows and "time to end (ms)" in rows
    same = {**stats, **{f"time_to_first_content_token-{a}": 0.1 for a in ("average", "p50", "p90", "p99", "max")}}
    assert "first content token (ms)" not in [r["metric"] for r in metrics_table(same)]


def test_links_go_to_the_s3_console_or_show_a_local_path_as_text():
    from tasks.links import console_url, markdown_link

    console = "https://s3.console.aws.amazon.com/s3"
    assert console_url("s3://b/x/run 1/stats.json") == f"{console}/object/b?prefix=x/run%201/stats.json"
    assert console_url("s3://b/x/00001-clients") == f"{console}/buckets/b?prefix=x/00001-clients/"
    assert console_url("s3://b") == f"{console}/buckets/b?prefix="
    assert console_url("/r/x/stats.json") is None and console_url("file:///r/x") is None
    assert markdown_link("s3://b/x/stats.json") == f"[s3://b/x/stats.json]({console}/object/b?prefix=x/stats.json)"
    assert markdown_link("/r/x/stats.json", "stats") == "stats: `/r/x/stats.json`"
