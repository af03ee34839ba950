"""Runs whose connections fail, end to end: out of file descriptors (``ulimit -n 64`` with 100
clients) and an endpoint that is down (a refused port), through the CLI and each transport."""

from __future__ import annotations

import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
import yaml

from llmeter_core import Runner, create_endpoint
from llmeter_core.connect_failures import BACKOFF_MAX_S
from llmeter_core.emulator import EmulatorThread
from tests.processes import pythonpath

PROMPT = [{"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}]
CONVERSE = [{"messages": [{"role": "user", "content": [{"text": "hello there"}]}]}]


@pytest.fixture(scope="module")
def openai_thread():
    """One OpenAI emulator in its own thread for the module's synchronous tests (runs and CLI
    processes with their own loops)."""
    with EmulatorThread("openai", ttft_ms=20, itl_ms=2, output_tokens=5, seed=1) as emu:
        yield emu


def _refused_port() -> int:
    """A port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _few_files() -> None:  # preexec_fn: the child may open 64 files, sockets included
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


def _spec(tmp_path: Path, name: str, base_url: str, **load) -> Path:
    spec = {
        "run_name": name,
        "output": str(tmp_path),
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": base_url},
        "load": load,
        "payloads": {"prompts": ["hello there"], "max_tokens": 5},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def _cli(path: Path, **popen) -> subprocess.Popen:
    env = {"PYTHONPATH": pythonpath(), "PATH": "/usr/bin:/bin", "OPENAI_API_KEY": "sk-fake-connect-test"}
    return subprocess.Popen(
        [sys.executable, "-m", "llmeter_core.cli", "run", str(path), "--no-display"],
        env=env,
        cwd=path.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )


def _stats(tmp_path: Path, name: str) -> dict:
    return orjson.loads((tmp_path / name / "stats.json").read_bytes())


def test_out_of_file_descriptors_the_run_ends_with_its_duration(openai_thread, tmp_path):
    duration = 2.0
    path = _spec(
        tmp_path,
        "emfile",
        openai_thread.url + "/v1",
        clients=100,
        run_duration=duration,
        max_consecutive_connect_failures=0,
    )  # keep going: this is about yielding and backing off
    proc = _cli(path, preexec_fn=_few_files)
    try:
        _, err = proc.communicate(timeout=60)  # a hang guard: before the fix it never ended
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    stats = _stats(tmp_path, "emfile")
    assert stats["total_test_time"] < duration + 1.0  # the run's own clock: the duration won
    failures = stats["errors"]["ConnectError"]
    assert failures > 0 and stats["connect_backoffs"] > 0
    assert "back off" in err  # the waits are logged, not silent
    # at most ~100 clients x (duration / longest wait + the doubling steps), not millions of rows
    assert failures <= 100 * (duration / BACKOFF_MAX_S + 12)
    assert stats["total_requests"] - failures > 0  # the clients that have connections keep measuring
    rows = (tmp_path / "emfile" / "responses.jsonl").read_bytes().splitlines()
    assert len(rows) == stats["total_requests"]
    assert b"Too many open files" in rows[[orjson.loads(r)["error"] is not None for r in rows].index(True)]


def test_out_of_file_descriptors_ctrl_c_still_stops_the_run(openai_thread, tmp_path):
    path = _spec(
        tmp_path,
        "emfile-int",
        openai_thread.url + "/v1",
        clients=100,
        run_duration=60,
        max_consecutive_connect_failures=0,
    )
    proc = _cli(path, preexec_fn=_few_files)
    responses = tmp_path / "emfile-int" / "responses.jsonl"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (responses.exists() and responses.stat().st_size > 0):
            time.sleep(0.1)  # flushed every second once responses come in
        assert responses.exists(), "the run recorded nothing"
        sent_at = time.monotonic()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        answered_in = time.monotonic() - sent_at
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert answered_in < 3.0
    stats = _stats(tmp_path, "emfile-int")
    assert stats["interrupted"] is True and stats["errors"]["ConnectError"] > 0


def test_endpoint_down_the_cli_stops_after_the_consecutive_failures(tmp_path):
    path = _spec(
        tmp_path,
        "down",
        f"http://127.0.0.1:{_refused_port()}/v1",
        clients=2,
        run_duration=60,
        max_consecutive_connect_failures=30,
    )
    proc = _cli(path)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 1, err
    message = "endpoint unreachable: 30 consecutive connection failures: ConnectError: cannot connect to 127.0.0.1"
    assert message in out and message in err
    stats = _stats(tmp_path, "down")
    assert stats["stop_reason"].startswith(message)
    # the failures in a row, and at most one per other client still trying when it stopped
    assert 30 <= stats["errors"]["ConnectError"] <= stats["total_requests"] <= 30 + 2


@pytest.mark.parametrize(
    "kind, options, payloads, error_type",
    [
        ("openai-chat", {"http_client": "direct"}, PROMPT, "ConnectError"),
        ("openai-chat", {"http_client": "aiohttp"}, PROMPT, "ClientConnectorError"),
        ("bedrock-converse", {"http_client": "direct"}, CONVERSE, "EndpointConnectionError"),
        ("bedrock-converse", {"http_client": "aiohttp"}, CONVERSE, "EndpointConnectionError"),
    ],
)
def test_endpoint_down_every_transport_counts_as_a_connect_failure(monkeypatch, kind, options, payloads, error_type):
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "AKIDUMMY"),
        ("AWS_SECRET_ACCESS_KEY", "dummy"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        monkeypatch.setenv(key, value)
    url = f"http://127.0.0.1:{_refused_port()}"
    if kind.startswith("openai"):
        endpoint = create_endpoint(kind, model_id="m", base_url=url + "/v1", api_key="sk-fake", **options)
    else:
        endpoint = create_endpoint(kind, model_id="anthropic.claude-x", endpoint_url=url, **options)
    result = Runner(endpoint, payloads, clients=4, run_duration=60, max_consecutive_connect_failures=12).run_sync()
    assert result.stats["stop_reason"].startswith(
        f"endpoint unreachable: 12 consecutive connection failures: {error_type}: "
    )
    assert result.stats["errors"][error_type] >= 12 and result.total_requests <= 12 + 4


def test_a_normal_run_is_unaffected(tmp_path):
    # server errors are answers, not connect failures: even a limit of 1 never stops this run
    with EmulatorThread("openai", ttft_ms=2, itl_ms=1, output_tokens=3, rate_500=0.3, seed=2) as emu:
        endpoint = create_endpoint("openai-chat", model_id="m", base_url=emu.url + "/v1", api_key="sk-fake")
        result = Runner(
            endpoint,
            PROMPT,
            clients=4,
            n_requests=25,
            max_consecutive_connect_failures=1,
            output_path=tmp_path,
            run_name="normal",
        ).run_sync()
        served = emu.stats()["requests"]
    stats = result.stats
    assert stats["total_requests"] == served == 100
    assert 0 < stats["failed_requests"] == stats["errors"]["http_500"]
    assert not {"stop_reason", "connect_backoffs", "connect_backoff_s"} & set(stats)
