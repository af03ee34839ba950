"""Failed calls yield, repeated connect failures back off, and an unreachable endpoint stops the
run (``llmeter_core.connect_failures``), with in-process endpoints whose failures come back
without ever yielding to the event loop, as EMFILE inside ``create_connection`` does.

The runs go in a child process: a loop that never yields cannot be stopped from inside (not
by a timer, a signal or pytest-timeout), so a regression must fail by timeout, not hang the
test session.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from llmeter_core import ConfigError, Result, Runner
from llmeter_core.connect_failures import (
    BACKOFF_FIRST_S,
    BACKOFF_MAX_S,
    CONNECT_ERROR_TYPES,
    ClientBackoff,
    ConnectFailures,
)
from llmeter_core.endpoints.transport.pool import ConnectError
from llmeter_core.response import InvocationResponse
from tests.fakes import FakeEndpoint
from tests.processes import pythonpath

PAYLOADS = [{"prompt": f"hello number {i}"} for i in range(10)]
REPO = Path(__file__).resolve().parents[2]


def _run_in_child(endpoint_class: str, **options) -> tuple[dict, str, float]:
    """Run ``Runner(<endpoint_class>(), PAYLOADS, **options)`` in a child: (stats, stderr, seconds)."""
    code = (
        f"import asyncio, sys, orjson; from llmeter_core import Runner; "
        f"from tests.core.test_connect_failures import {endpoint_class}, PAYLOADS; "
        f"endpoint = {endpoint_class}(); "
        f"result = asyncio.run(Runner(endpoint, PAYLOADS, **{options!r}).run()); "
        f"sys.stdout.buffer.write(orjson.dumps({{**result.stats, 'calls': endpoint.calls}}))"
    )
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": pythonpath(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        timeout=60,
    )  # a hang guard: before the fix it never ended
    elapsed = time.perf_counter() - start
    assert done.returncode == 0, done.stderr.decode()
    return orjson.loads(done.stdout), done.stderr.decode(), elapsed


class NoFilesEndpoint(FakeEndpoint):
    """Every call fails to connect before it ever yields (the pool's EMFILE path)."""

    async def invoke(self, payload):
        self.calls += 1
        raise ConnectError("cannot connect to 127.0.0.1:1: Too many open files")


class RefusesPayloads(FakeEndpoint):
    """Every payload is refused in prepare_payload: a failure that never yields either."""

    def prepare_payload(self, payload):
        raise ValueError("this endpoint refuses every payload")


def _failure(error_type: str = "ConnectError", error: str = "ConnectError: refused") -> InvocationResponse:
    return InvocationResponse(error=error, error_type=error_type)


def test_identical_connect_failures_back_off_exponentially_up_to_the_cap():
    backoff = ClientBackoff()
    delays = [backoff.delay("ConnectError: refused") for _ in range(12)]
    assert delays[0] == 0.0  # a new failure only yields
    assert delays[1:4] == [BACKOFF_FIRST_S, 2 * BACKOFF_FIRST_S, 4 * BACKOFF_FIRST_S]
    assert max(delays) == BACKOFF_MAX_S and delays[-1] == BACKOFF_MAX_S
    assert backoff.delay("ConnectError: something else") == 0.0  # not identical: starts over
    backoff.clear()
    assert backoff.delay("ConnectError: refused") == 0.0


def test_consecutive_failures_across_clients_stop_once_and_other_answers_reset_the_count():
    failures = ConnectFailures(limit=3)
    a, b = ClientBackoff(), ClientBackoff()
    failures.after_failure(_failure(), a, stopping=False)
    failures.after_failure(_failure(), b, stopping=False)
    failures.after_failure(_failure("http_503", "HTTP 503"), a, stopping=False)  # the server answered
    assert failures.in_a_row == 0 and failures.stop_reason is None
    for client in (a, b, a):
        failures.after_failure(_failure(), client, stopping=False)
    assert failures.stop_reason == "endpoint unreachable: 3 consecutive connection failures: ConnectError: refused"
    assert failures.stats()["stop_reason"] == failures.stop_reason
    never = ConnectFailures(limit=0)
    for _ in range(1000):
        never.after_failure(_failure(), a, stopping=False)
    assert never.stop_reason is None and never.stats()["connect_backoffs"] > 0


def test_the_classification_covers_every_transport():
    # the names the three transports record: direct pool, botocore, aiohttp
    assert {"ConnectError", "EndpointConnectionError", "ClientConnectorError"} <= CONNECT_ERROR_TYPES
    assert not {"http_503", "ThrottlingException", "timeout", "incomplete", "ServerDisconnected"} & CONNECT_ERROR_TYPES


def test_failures_that_never_yield_still_let_the_duration_end(tmp_path):
    stats, _, _ = _run_in_child(
        "NoFilesEndpoint",
        clients=4,
        run_duration=0.5,
        output_path=str(tmp_path),
        run_name="emfile",
        max_consecutive_connect_failures=0,
    )
    assert stats["total_test_time"] < 0.5 + 2 * BACKOFF_MAX_S  # the duration won, then a last back-off
    assert stats["errors"] == {"ConnectError": stats["total_requests"]}
    # 4 clients backing off to 0.1 s: tens of attempts each, not millions
    assert stats["total_requests"] <= 4 * (0.5 / BACKOFF_MAX_S + 12)
    assert stats["connect_backoffs"] > 0 and stats["connect_backoff_s"] > 0
    assert "stop_reason" not in stats
    saved = orjson.loads((tmp_path / "emfile" / "stats.json").read_bytes())
    assert saved["connect_backoffs"] == stats["connect_backoffs"]


def test_refused_payloads_yield_too():
    stats, _, _ = _run_in_child("RefusesPayloads", clients=2, run_duration=0.3)
    assert stats["errors"] == {"ValueError": stats["total_requests"]} and stats["total_requests"] > 0
    assert "stop_reason" not in stats  # not a connect failure: the run goes on


def test_consecutive_connect_failures_stop_the_run_with_the_reason(tmp_path):
    stats, stderr, _ = _run_in_child(
        "NoFilesEndpoint",
        clients=3,
        run_duration=60,
        output_path=str(tmp_path),
        run_name="down",
        max_consecutive_connect_failures=25,
    )
    reason = stats["stop_reason"]
    assert reason.startswith("endpoint unreachable: 25 consecutive connection failures: ConnectError: ")
    assert "out of file descriptors" in reason
    assert stats["total_requests"] == stats["calls"] == 25
    assert stats["interrupted"] is False  # it stopped itself: not a user interrupt
    assert "stopped: endpoint unreachable" in stderr
    assert stderr.count("back off") == 1  # the waits are said, once per distinct error
    assert Result.load(str(tmp_path / "down")).stats["stop_reason"] == reason


def test_the_option_is_checked():
    with pytest.raises(ConfigError) as info:
        Runner(FakeEndpoint(), PAYLOADS, n_requests=1, max_consecutive_connect_failures=-1)
    assert info.value.field == "max_consecutive_connect_failures"
    runner = Runner(FakeEndpoint(), PAYLOADS, n_requests=1, max_consecutive_connect_failures=7)
    assert runner.run_config()["max_consecutive_connect_failures"] == 7


def test_the_spec_field_reaches_the_runner(tmp_path):
    from llmeter_core.spec import load_spec

    spec = tmp_path / "spec.yaml"
    body = (
        "endpoint: {type: openai-chat, model: m, base_url: 'http://127.0.0.1:1/v1'}\n"
        "load: {clients: 1, n_requests: 1, max_consecutive_connect_failures: %s}\n"
        "payloads: {prompts: [hi]}\n"
    )
    spec.write_text(body % 5)
    assert load_spec(spec).runner(output_path=None).max_consecutive_connect_failures == 5
    spec.write_text(body % -1)
    with pytest.raises(ConfigError, match="load.max_consecutive_connect_failures"):
        load_spec(spec)
