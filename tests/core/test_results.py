"""Result.load: our own folders are covered in test_runner; here LLMeter 0.2.0's."""

import orjson
import pytest

from llmeter_core import Result

LLMETER_020_SUMMARY = {
    "total_requests": 3, "clients": 1, "n_requests": 3, "total_test_time": 1.5, "model_id": "m",
    "output_path": None, "endpoint_name": "e", "provider": "openai", "run_name": "old",
    "run_description": None, "start_time": "2026-01-01T00:00:00Z", "first_request_time": "2026-01-01T00:00:00Z",
    "last_request_time": "2026-01-01T00:00:01Z", "end_time": "2026-01-01T00:00:01Z",
}


def response(ttft, t, error=None):
    return {
        "response_text": "a b", "input_payload": {"messages": []}, "id": "x", "input_prompt": "hi",
        "time_to_first_token": ttft, "time_to_last_token": ttft + 0.1, "num_tokens_input": 1, "num_tokens_output": 2,
        "num_tokens_input_cached": None, "num_tokens_output_reasoning": None, "time_per_output_token": 0.1,
        "error": error, "retries": 0, "request_time": t, "annotations": {"k": 1},
    }


def test_llmeter_020_run_folder_loads(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "summary.json").write_bytes(orjson.dumps(LLMETER_020_SUMMARY))
    (folder / "stats.json").write_bytes(orjson.dumps({**LLMETER_020_SUMMARY, "cost_total": 2.0}))
    rows = [response(0.1, "2026-01-01T00:00:00"), response(0.3, "2026-01-01T00:00:00.5"),
            response(0.2, "2026-01-01T00:00:01", error="Throttled")]
    (folder / "responses.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    result = Result.load(str(folder))
    assert result.run_name == "old" and len(result.responses) == 3
    assert result.responses[2].error_type == "unknown"  # 0.2.0 recorded no type
    stats = result.stats
    assert stats["failed_requests"] == 1
    assert stats["time_to_first_token-p50"] == pytest.approx(0.2)
    assert stats["requests_per_minute"] == pytest.approx(180.0)
    assert stats["cost_total"] == 2.0  # a callback's key survives the reload
    assert result.start_time.year == 2026 and result.start_time.tzinfo is not None
