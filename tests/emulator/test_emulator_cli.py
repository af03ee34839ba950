"""The emulator CLI as a subprocess: announces its URL, serves, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from contextlib import contextmanager
from typing import Iterator

import httpx
import pytest


@contextmanager
def launch(*args: str) -> Iterator[tuple[subprocess.Popen, str]]:
    """The emulator CLI in a child process and its URL; its pipes are closed afterwards."""
    with subprocess.Popen(
        [sys.executable, "-m", "llmeter_core.emulator.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        line = process.stdout.readline()
        match = re.fullmatch(r"listening on (http://127\.0\.0\.1:(\d+))\n", line)
        if match is None:
            process.kill()
            raise AssertionError(f"unexpected first line {line!r}; stderr: {process.stderr.read()}")
        yield process, match.group(1)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_openai_command_serves_with_its_settings_until_signalled(signum):
    with launch(
        "openai",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ttft-ms",
        "0",
        "--itl-ms",
        "0",
        "--output-tokens",
        "7",
        "--rate-429",
        "0",
        "--seed",
        "3",
        "--cached-tokens",
        "1",
    ) as (process, url):
        try:
            reply = httpx.post(
                url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "a b"}]}, timeout=10
            ).json()
            assert reply["choices"][0]["message"]["content"] == "tok0 tok1 tok2 tok3 tok4 tok5 tok6"
            assert reply["usage"]["prompt_tokens_details"]["cached_tokens"] == 1
            stats = httpx.get(url + "/emulator/stats", timeout=10).json()
            assert stats["kind"] == "openai" and stats["config"]["seed"] == 3 and stats["requests"] == 1
        finally:
            process.send_signal(signum)
            assert process.wait(timeout=10) == 0


def test_bedrock_command_with_a_distribution_and_faults():
    with launch(
        "bedrock",
        "--ttft-ms",
        '{"dist": "uniform", "low": 0, "high": 1}',
        "--itl-ms",
        "0",
        "--rate-500",
        "1",
        "--slow-first-byte-ms",
        "5",
    ) as (process, url):
        try:
            reply = httpx.post(url + "/model/anthropic.claude/converse", json={"messages": []}, timeout=10)
            assert reply.status_code == 500
            assert reply.headers["x-amzn-ErrorType"] == "InternalServerException"
            assert httpx.get(url + "/emulator/stats", timeout=10).json()["faults"] == {"500": 1}
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0


def test_bad_setting_exits_non_zero_naming_the_field():
    result = subprocess.run(
        [sys.executable, "-m", "llmeter_core.emulator.cli", "sagemaker", "--rate-429", "2"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "rate_429" in result.stderr
    assert result.stdout == ""


def test_the_usage_and_reasoning_switches():
    with launch("openai", "--omit-usage", "--stream-reasoning", "--reasoning-tokens", "2") as (process, url):
        try:
            config = httpx.get(url + "/emulator/stats", timeout=10).json()["config"]
            assert (config["omit_usage"], config["stream_reasoning"], config["reasoning_tokens"]) == (True, True, 2)
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
