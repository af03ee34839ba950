"""``begin_request``, the prologue every emulator handler shares, as a new API's handler would
use it: a body that is not JSON, an immediate fault, a slow first byte and the ground truth."""

from __future__ import annotations

import time

import orjson
import pytest
from aiohttp import ClientSession, web

from llmeter_core.emulator import build_app
from llmeter_core.emulator.prologue import begin_request
from llmeter_core.emulator.state import STATE_KEY
from llmeter_core.emulator.wire import json_response


def _read(body: dict) -> tuple[int, int | None]:
    return len(str(body.get("prompt", "")).split()), body.get("cap")


async def _handler(request: web.Request) -> web.StreamResponse:
    started = await begin_request(
        request,
        "custom.api",
        _read,
        id_prefix="c-",
        invalid_body=lambda state: json_response({"error": "not json"}, status=400),
        fault_response=lambda state, served: (
            json_response({"error": "slow down"}, status=429) if served.fault == "429" else None
        ),
    )
    if started.response is not None:
        return started.response
    served = started.served
    assert served is not None
    started.state.truth.finish(served.truth)
    return json_response({"id": served.request_id, "stream": served.truth.stream})


@pytest.fixture
async def custom():
    """``await custom(**config)``: an emulator app with one extra route served by ``_handler``."""
    runners = []

    async def start(**config):
        app = build_app("openai", config)
        app.router.add_post("/custom", _handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return app, f"http://127.0.0.1:{runner.addresses[0][1]}/custom"

    yield start
    for runner in runners:
        await runner.cleanup()


async def test_a_served_request_is_begun_with_its_prompt_cap_stream_flag_and_finish_reason(custom):
    app, url = await custom(output_tokens=10)
    async with ClientSession() as session:
        async with session.post(url, data=orjson.dumps({"prompt": "a b c", "cap": 4, "stream": True})) as reply:
            assert reply.status == 200
            answer = await reply.json()
        async with session.post(url, data=b"not json") as reply:
            assert reply.status == 400
    assert answer["id"].startswith("c-") and answer["stream"] is True
    (record,) = _records(app)  # the body that is not JSON never began
    assert (record.api, record.input_tokens, record.output_tokens, record.finish_reason) == (
        "custom.api",
        3,
        4,
        "length",
    )
    assert record.completed


def _records(app: web.Application) -> list:
    return list(app[STATE_KEY].truth.records.values())


async def test_a_fault_is_answered_at_once_and_a_slow_first_byte_waits(custom):
    refusing_app, refusing = await custom(rate_429=1.0)
    app, slow = await custom(rate_slow_first_byte=1.0, slow_first_byte_ms=150)
    async with ClientSession() as session:
        async with session.post(refusing, data=b"{}") as reply:
            assert reply.status == 429
        started = time.perf_counter()
        async with session.post(slow, data=b"{}") as reply:
            assert reply.status == 200
        waited = time.perf_counter() - started
    (refused,) = _records(refusing_app)
    assert refused.fault == "429" and refused.finish_reason is None and not refused.completed
    (record,) = _records(app)
    assert record.fault == "slow_first_byte" and record.finish_reason == "stop"
    assert waited >= 0.150  # a floor: the prologue waited before the handler answered
