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


def test_metrics_table_fits_one_page_with_percentiles_and_rates():
    rows = metrics_table(STATS)
    assert len(rows) <= 10  # the UI shows 10 rows per page
    by_metric = {r["metric"]: r for r in rows}
    ttft = by_metric["time_to_first_token (s)"]
    assert (ttft["p50"], ttft["p90"], ttft["p99"]) == (0.1071, 0.2, 0.3)
    assert by_metric["num_tokens_output (tokens)"]["average"] is None
    assert by_metric["requests_per_minute"] == {
        "metric": "requests_per_minute",
        "average": 1281.2346,
        "p50": None,
        "p90": None,
        "p99": None,
        "max": None,
    }
    assert all(set(r) == set(rows[0]) for r in rows)  # one set of columns
    json.dumps(rows)


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
    assert "| TTFT (s) | p50 | 107.1 ms |" in text
    assert "| Errors | http_429 | 2 |" in text
    final = live_markdown(_snapshot(final=True, interrupted=True, progress=0.6))
    assert "interrupted (partial run saved)" in final


def test_log_line_is_one_line_with_the_key_numbers():
    line = live_log_line(_snapshot())
    assert "\n" not in line
    assert "20/40 done (50%)" in line and "1,281 req/min" in line and "TTFT p50/p90/p99 107/200/300 ms" in line


def test_links_go_to_the_s3_console_or_show_a_local_path_as_text():
    from tasks.links import console_url, markdown_link

    console = "https://s3.console.aws.amazon.com/s3"
    assert console_url("s3://b/x/run 1/stats.json") == f"{console}/object/b?prefix=x/run%201/stats.json"
    assert console_url("s3://b/x/00001-clients") == f"{console}/buckets/b?prefix=x/00001-clients/"
    assert console_url("s3://b") == f"{console}/buckets/b?prefix="
    assert console_url("/r/x/stats.json") is None and console_url("file:///r/x") is None
    assert markdown_link("s3://b/x/stats.json") == f"[s3://b/x/stats.json]({console}/object/b?prefix=x/stats.json)"
    assert markdown_link("/r/x/stats.json", "stats") == "stats: `/r/x/stats.json`"
