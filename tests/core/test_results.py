"""Result.load: our own folders are covered in test_runner; here LLMeter 0.2.0's."""

import orjson
import pytest

from llmeter_core import Result

LLMETER_020_SUMMARY = {
    "total_requests": 3,
    "clients": 1,
    "n_requests": 3,
    "total_test_time": 1.5,
    "model_id": "m",
    "output_path": None,
    "endpoint_name": "e",
    "provider": "openai",
    "run_name": "old",
    "run_description": None,
    "start_time": "2026-01-01T00:00:00Z",
    "first_request_time": "2026-01-01T00:00:00Z",
    "last_request_time": "2026-01-01T00:00:01Z",
    "end_time": "2026-01-01T00:00:01Z",
}


def response(ttft, t, error=None):
    return {
        "response_text": "a b",
        "input_payload": {"messages": []},
        "id": "x",
        "input_prompt": "hi",
        "time_to_first_token": ttft,
        "time_to_last_token": ttft + 0.1,
        "num_tokens_input": 1,
        "num_tokens_output": 2,
        "num_tokens_input_cached": None,
        "num_tokens_output_reasoning": None,
        "time_per_output_token": 0.1,
        "error": error,
        "retries": 0,
        "request_time": t,
        "annotations": {"k": 1},
    }


def test_llmeter_020_run_folder_loads(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "summary.json").write_bytes(orjson.dumps(LLMETER_020_SUMMARY))
    (folder / "stats.json").write_bytes(orjson.dumps({**LLMETER_020_SUMMARY, "cost_total": 2.0}))
    rows = [
        response(0.1, "2026-01-01T00:00:00"),
        response(0.3, "2026-01-01T00:00:00.5"),
        response(0.2, "2026-01-01T00:00:01", error="Throttled"),
    ]
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


# -- damaged folders ----------------------------------------------------------------------
def written_run(tmp_path, n=6, name="r"):
    from llmeter_core import Runner
    from tests.fakes import FakeEndpoint

    return Runner(
        FakeEndpoint(tokens=2), [{"prompt": "a b"}], clients=2, n_requests=n // 2, output_path=tmp_path, run_name=name
    ).run_sync()


def test_a_torn_last_line_is_skipped_with_a_warning_and_every_intact_line_loads(tmp_path, caplog):
    written_run(tmp_path)
    folder = tmp_path / "r"
    for name in ("summary.json", "stats.json"):  # killed mid-write: no summary, no stats
        (folder / name).unlink()
    responses = folder / "responses.jsonl"
    torn = responses.read_bytes().splitlines(keepends=True)[0][:57]
    with open(responses, "ab") as handle:
        handle.write(torn)
    result = Result.load(str(folder))
    assert len(result.responses) == 6 and result.stats["total_requests"] == 6
    expected = f"{responses} line 7 is damaged (torn or not a response): skipped, 57 bytes dropped"
    assert expected in result.load_warnings and expected in caplog.text


def test_garbage_lines_anywhere_are_skipped_one_by_one(tmp_path):
    written_run(tmp_path)
    responses = tmp_path / "r" / "responses.jsonl"
    lines = responses.read_bytes().splitlines(keepends=True)
    responses.write_bytes(b"".join([lines[0], b"\x00\xff garbage\n", lines[1], b"[1, 2]\n", *lines[2:]]))
    result = Result.load(str(tmp_path / "r"))
    assert len(result.responses) == 6
    assert [w.split(" is damaged")[0].rsplit(" ", 1)[1] for w in result.load_warnings if "is damaged" in w] == [
        "2",
        "4",
    ]
    # stats.json counts 6 requests and 6 intact lines remain: stats are recomputed, and equal
    assert result.stats == Result.load(str(tmp_path / "r"), load_responses=False).stats


def test_a_killed_run_loads_from_run_config_and_is_interrupted(tmp_path):
    written = written_run(tmp_path)
    folder = tmp_path / "r"
    (folder / "summary.json").unlink()
    (folder / "stats.json").unlink()
    for load_responses in (True, False):
        result = Result.load(str(folder), load_responses=load_responses)
        assert result.interrupted is True
        assert (result.run_name, result.clients, result.n_requests) == ("r", 2, 3)
        assert (result.model_id, result.endpoint_name, result.provider) == ("fake-model", "fake-model", "fake")
        assert result.total_requests == 6 and result.stats["total_requests"] == 6
        assert result.stats["interrupted"] is True
        assert result.first_request_time == written.first_request_time
        assert result.stats["time_to_first_token-p50"] == written.stats["time_to_first_token-p50"]
        assert len(result.responses) == (6 if load_responses else 0)
        assert any("no summary.json or stats.json" in w for w in result.load_warnings)


def test_a_folder_that_holds_no_run_is_an_error_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a run folder"):
        Result.load(str(tmp_path))


# -- LLMeter folders: whole-second timestamps -----------------------------------------------
def llmeter_folder(tmp_path):
    """A 0.2.0 folder as LLMeter writes it: times truncated to whole seconds, its own stats."""
    folder = tmp_path / "old020"
    folder.mkdir()
    summary = {
        **LLMETER_020_SUMMARY,
        "total_requests": 4,
        "start_time": "2026-01-01T00:00:00Z",
        "first_request_time": "2026-01-01T00:00:00Z",
        "last_request_time": "2026-01-01T00:00:02Z",
        "end_time": "2026-01-01T00:00:03Z",
    }
    stored = {
        **summary,
        "failed_requests": 0,
        "failed_requests_rate": 0.0,
        "total_input_tokens": 4.0,
        "total_output_tokens": 8.0,
        "time_to_first_token-p50": 0.25,
        "requests_per_minute": 128.1,
        "output_tps": 2.9,
        "cost_total": 2.0,
    }
    (folder / "summary.json").write_bytes(orjson.dumps(summary))
    (folder / "stats.json").write_bytes(orjson.dumps(stored))
    times = ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]
    rows = [response(0.1 * (i + 1), t) for i, t in enumerate(times)]
    (folder / "responses.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return folder, stored


def test_an_llmeter_folder_with_whole_second_times_keeps_its_stored_stats_and_says_why(tmp_path, caplog):
    folder, stored = llmeter_folder(tmp_path)
    full = Result.load(str(folder))
    summary_only = Result.load(str(folder), load_responses=False)
    assert len(full.responses) == 4
    assert full.stats["requests_per_minute"] == 128.1  # recomputed from whole seconds it would be 120
    assert full.stats == summary_only.stats == stored
    (why,) = full.load_warnings
    assert "stats.json kept as stored" in why and "whole-second precision" in why and why in caplog.text


def test_recomputed_stats_that_differ_from_stats_json_are_never_silent(tmp_path):
    folder, stored = llmeter_folder(tmp_path)
    rows = [orjson.loads(line) for line in (folder / "responses.jsonl").read_bytes().splitlines()]
    for i, row in enumerate(rows):  # sub-second times: recomputing is right, and differs from stored
        row["request_time"] = f"2026-01-01T00:00:0{i}.5Z"
    (folder / "responses.jsonl").write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    result = Result.load(str(folder))
    assert result.stats["requests_per_minute"] == pytest.approx(80.0)  # 4 requests in 3 s
    (warning,) = result.load_warnings
    assert "requests_per_minute (80.0 recomputed, 128.1 stored)" in warning and "load_responses=False" in warning


def test_stats_json_is_kept_when_responses_jsonl_misses_requests_it_counts(tmp_path):
    written_run(tmp_path)
    responses = tmp_path / "r" / "responses.jsonl"
    responses.write_bytes(b"".join(responses.read_bytes().splitlines(keepends=True)[:4]))
    result = Result.load(str(tmp_path / "r"))
    assert len(result.responses) == 4 and result.stats["total_requests"] == 6
    assert "it counts 6 requests, responses.jsonl holds 4 intact ones" in result.load_warnings[0]
