"""Fixtures shared by the AWS endpoint tests (import them into a test module to use them).

``aws_env`` isolates the AWS SDK from the machine: dummy credentials, a fixed region, no
config files, no instance metadata lookups, no ``AWS_ENDPOINT_URL*`` left over. Emulators
listen on 127.0.0.1 port 0 in the test's own loop.
"""

from __future__ import annotations

import asyncio
import os

import pytest
from aiohttp import web

from llmeter_core.emulator import start_emulator
from llmeter_core.emulator.eventstream import encode_message, event_headers, exception_headers

__all__ = ["aws_env", "emulator", "canned_eventstream", "count_connects", "event", "exception_event",
           "assert_matches_truth", "SECRET_KEY"]

SECRET_KEY = "dummy-secret-key-never-written-9f3b"


@pytest.fixture
def aws_env(monkeypatch, tmp_path):
    for key in list(os.environ):
        if key.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE", "AWS_WEB_IDENTITY")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDUMMY")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SECRET_KEY + "-token")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


@pytest.fixture
async def emulator(aws_env):
    """``await emulator(kind, **config)`` starts an emulator; all are stopped afterwards."""
    started = []

    async def start(kind: str = "bedrock", **config):
        emu = await start_emulator(kind, config)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


def event(event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    """One framed eventstream ``event`` message."""
    return encode_message(event_headers(event_type, content_type), payload)


def exception_event(exception_type: str, payload: bytes) -> bytes:
    return encode_message(exception_headers(exception_type), payload)


@pytest.fixture
async def canned_eventstream(aws_env):
    """``await canned_eventstream(messages, request_id=..., delay=...)`` serves every POST with
    the given eventstream messages, written one by one ``delay`` seconds apart."""
    runners = []

    async def start(messages: list[bytes], request_id: str = "canned-request-1", delay: float = 0.0) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(headers={"Content-Type": "application/vnd.amazon.eventstream",
                                                   "x-amzn-RequestId": request_id})
            await response.prepare(request)
            for message in messages:
                if delay:
                    await asyncio.sleep(delay)
                await response.write(message)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()


def assert_matches_truth(out, emu, tolerance_ms: float = 25.0) -> None:
    """The client's times are the server's own record of when it wrote the first and last
    token, plus a little (network, parsing): never less, and at most ``tolerance_ms`` more.
    Comparing with the server's record, not the configured latency, keeps the check exact
    on a busy machine where the emulator itself runs late."""
    truth = emu.state.truth.get(out.id)
    assert truth is not None, f"no ground truth for request id {out.id}"
    if out.time_to_first_token is not None:
        error_ms = out.time_to_first_token * 1000 - truth.first_token_ms
        assert 0 <= error_ms < tolerance_ms, (out.time_to_first_token, truth)
    error_ms = out.time_to_last_token * 1000 - truth.last_token_ms
    assert 0 <= error_ms < tolerance_ms, (out.time_to_last_token, truth)
