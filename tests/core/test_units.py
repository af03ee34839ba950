"""One display convention: ms for latencies, req/min, tok/s, %, units in the headers."""

from llmeter_core.units import display_header, display_value


def test_headers_carry_their_unit():
    assert display_header("time_to_first_token-p50") == "TTFT p50 (ms)"
    assert display_header("time_per_output_token-p90") == "TPOT p90 (ms)"
    assert display_header("requests_per_minute") == "Requests sent (req/min)"
    assert display_header("completed_requests_per_second") == "Throughput (req/s)"
    assert display_header("output_tps") == "Output (tok/s)"
    assert display_header("failed_requests_rate") == "Failed (%)"
    assert display_header("num_tokens_output-p50") == "num_tokens_output p50 (tokens)"
    assert display_header("total_requests") == "Requests"


def test_values_are_converted_once_and_rounded():
    assert display_value("time_to_first_token-p50", 0.01234) == 12.3
    assert display_value("failed_requests_rate", 0.125) == 12.5
    assert display_value("requests_per_minute", 612.345) == 612.3
    assert display_value("total_requests", 40) == 40
    assert display_value("time_to_last_token-p99", None) is None
    assert display_value("time_to_last_token-p99", float("nan")) is None
    assert display_value("interrupted", True) is True


def test_text_and_labels_follow_the_same_rule():
    from llmeter_core.units import display_text, with_unit

    assert display_text("time_to_last_token-p99", 2.5) == "2,500.0"  # ms, never switching to s
    assert display_text("event_loop_lag-p99", 0.0021) == "2.1" and with_unit("loop lag", "event_loop_lag-p99") == (
        "loop lag (ms)"
    )
    assert display_text("slo_attainment", 0.5) == "50.0" and display_text("total_requests", 1234) == "1,234"
    assert display_text("output_tps", None) == "—" and display_text("output_tps", None, missing="-") == "-"
    assert with_unit("p50", "time_to_first_token-p50") == "p50 (ms)" and with_unit("requests", "total_requests") == (
        "requests"
    )


def test_comparisons_show_each_value_with_its_display_unit():
    from llmeter_core.compare_format import format_value

    assert format_value("time_to_first_token-p90", 0.1234) == "123.4 ms"
    assert format_value("requests_per_minute", 1234.5) == "1,234.5 req/min"
    assert format_value("output_tps", 412.0) == "412.0 tok/s"
    assert format_value("completed_requests_per_second", 9.5) == "9.50 req/s"
    assert format_value("failed_requests_rate", 0.05) == "5.00 %"
    assert format_value("num_tokens_output-p50", 40.0) == "40.0" and format_value("output_tps", None) == "-"
