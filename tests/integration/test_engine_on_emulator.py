"""The engine end to end: Runner + OpenAI endpoints + the emulator on 127.0.0.1."""

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pytest
import yaml

from llmeter_core import Result, Runner, create_endpoint
from llmeter_core.emulator import EmulatorThread

PROMPTS = [{"messages": [{"role": "user", "content": f"prompt number {i} please"}], "max_tokens": 50} for i in range(5)]
RESPONSES_PAYLOAD = [{"input": f"prompt number {i} please", "max_output_tokens": 50} for i in range(5)]


@pytest.fixture(scope="module")
def openai_thread():
    """One OpenAI emulator in its own thread for the module's synchronous tests (runs and CLI
    processes with their own loops)."""
    with EmulatorThread("openai", ttft_ms=50, itl_ms=2, output_tokens=10, seed=1) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _reset(openai_thread):
    openai_thread.reset()


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("kind, payloads", [("openai-chat", PROMPTS), ("openai-responses", RESPONSES_PAYLOAD)])
def test_count_run(openai_thread, tmp_path, kind, payloads, stream):
    endpoint = create_endpoint(
        kind, model_id="m", base_url=openai_thread.url + "/v1", stream=stream, api_key="sk-test-key-123"
    )
    result = Runner(endpoint, payloads, clients=3, n_requests=4, output_path=tmp_path, run_name="r").run_sync()
    stats = result.stats
    assert stats["total_requests"] == 12 and stats["failed_requests"] == 0, stats["errors"]
    assert stats["num_tokens_output-p50"] == 10 and stats["num_tokens_input-p50"] == 4
    # times against the emulator's record of when it wrote the tokens: never before it
    for response in result.responses:
        truth = openai_thread.request_truth(response.id)
        assert truth is not None and truth["completed"], response.id
        assert response.time_to_last_token * 1000 >= truth["last_token_ms"] >= 50 + 9 * 2
        if stream:
            assert response.time_to_first_token * 1000 >= truth["first_token_ms"] >= 50
            ttft, ttlt = response.time_to_first_token, response.time_to_last_token
            assert response.time_per_output_token == pytest.approx((ttlt - ttft) / 9)
    if not stream:
        assert stats["time_to_first_token-p50"] is None
    assert openai_thread.stats()["requests"] == 12
    rows = [orjson.loads(x) for x in (tmp_path / "r" / "responses.jsonl").read_bytes().splitlines()]
    assert len(rows) == 12
    ttlt = [r["time_to_last_token"] for r in rows]
    assert stats["time_to_last_token-p90"] == pytest.approx(np.percentile(ttlt, 90), rel=1e-12)
    assert Result.load(str(tmp_path / "r")).stats == orjson.loads((tmp_path / "r" / "stats.json").read_bytes())
    assert b"sk-test-key-123" not in (tmp_path / "r" / "run_config.json").read_bytes()


def test_duration_run_ends_on_time(openai_thread):
    """Against the emulator's record and the requests' own times, not wall-clock windows: a
    request takes at least the 68 ms the emulator schedules (50 + 9 x 2), longer on a busy
    machine, and the bounds follow."""
    clients, duration = 4, 1.0
    endpoint = create_endpoint("openai-chat", model_id="m", base_url=openai_thread.url + "/v1")
    result = Runner(endpoint, PROMPTS, clients=clients, run_duration=duration).run_sync()
    served = openai_thread.stats()
    assert result.stats["failed_requests"] == 0
    assert served["requests"] == served["completed"] == result.total_requests  # drained, nothing lost
    ttlts = [r.time_to_last_token for r in result.responses]
    assert min(ttlts) >= 0.068
    assert clients * int(duration // max(ttlts)) <= result.total_requests
    assert result.total_requests <= clients * (int(result.total_test_time // 0.068) + 1)
    last_done = max(r.request_time + timedelta(seconds=r.time_to_last_token) for r in result.responses)
    assert result.total_test_time >= duration
    assert result.end_time - last_done < timedelta(seconds=max(ttlts))


def test_mid_stream_disconnect_keeps_partial_data():
    with EmulatorThread("openai", ttft_ms=5, itl_ms=2, output_tokens=10, rate_disconnect=1.0) as emu:
        endpoint = create_endpoint("openai-chat", model_id="m", base_url=emu.url + "/v1")
        result = Runner(endpoint, PROMPTS, clients=2, n_requests=3).run_sync()
    assert result.stats["failed_requests"] == 6
    for r in result.responses:
        assert r.error_type and r.response_text and r.time_to_first_token is not None
    assert result.stats["time_to_first_token-p50"] is None  # failures stay out of latency stats


def test_cli_run_and_bad_spec(openai_thread, tmp_path):
    spec = {
        "run_name": "cli-run",
        "output": str(tmp_path),
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": openai_thread.url + "/v1", "stream": True},
        "load": {"clients": 2, "n_requests": 3},
        "payloads": {"prompts": ["hello there"], "max_tokens": 5},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [sys.executable, "-m", "llmeter_core.cli", "run", str(path), "--no-display"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "6 requests" in done.stdout
    assert orjson.loads((tmp_path / "cli-run" / "stats.json").read_bytes())["total_requests"] == 6

    openai_thread.reset()
    spec["load"]["clients"] = 0
    spec["run_name"] = "bad"
    path.write_text(yaml.safe_dump(spec))
    done = subprocess.run(
        [sys.executable, "-m", "llmeter_core.cli", "run", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "load.clients" in done.stderr
    assert not (tmp_path / "bad").exists()


def test_ctrl_c_saves_the_partial_run(openai_thread, tmp_path):
    """SIGINT to `llmeter-flows run`: no request sent after it, exit 130, run saved as interrupted."""
    import signal

    spec = {
        "run_name": "interrupted",
        "output": str(tmp_path),
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": openai_thread.url + "/v1"},
        "load": {"clients": 4, "run_duration": 60},
        "payloads": {"prompts": ["hello there"], "max_tokens": 5},
    }
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec))
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmeter_core.cli", "run", str(path), "--no-display"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    responses = tmp_path / "interrupted" / "responses.jsonl"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not (responses.exists() and responses.stat().st_size > 0):
        time.sleep(0.1)  # responses.jsonl is flushed every second once requests complete
    assert responses.exists(), proc.communicate(timeout=5)
    signalled_at = datetime.now(timezone.utc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    # no request left after the signal was handled (a loaded machine may take a moment to do so)
    last_sent = max(r.request_time for r in Result.load(str(tmp_path / "interrupted")).responses)
    assert (last_sent - signalled_at).total_seconds() < 1.0
    assert "interrupted" in out
    stats = orjson.loads((tmp_path / "interrupted" / "stats.json").read_bytes())
    assert stats["interrupted"] is True and stats["total_requests"] > 0
    lines = (tmp_path / "interrupted" / "responses.jsonl").read_bytes().splitlines()
    assert len(lines) == stats["total_requests"]
