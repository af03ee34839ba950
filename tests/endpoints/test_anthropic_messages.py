"""AnthropicMessagesEndpoint against the Anthropic emulator (timings, usage, thinking, faults)
and against canned streams for what the emulator does not send (pings mid-block, cache
writes, a stream cut without message_stop)."""

from __future__ import annotations

import pytest
from aiohttp import web

from llmeter_core.emulator import start_emulator
from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.anthropic_messages import AnthropicMessagesEndpoint
from llmeter_core.errors import ConfigError

PROMPT = "one two three four five"


@pytest.fixture
async def anthropic_emulator():
    started = []

    async def start(**config):
        emu = await start_emulator("anthropic", config)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


async def call(base_url: str, stream: bool = True, max_tokens: int = 100, payload_extra=None, **kwargs):
    async with AnthropicMessagesEndpoint(model_id="claude", base_url=base_url, stream=stream, **kwargs) as endpoint:
        payload = AnthropicMessagesEndpoint.create_payload(PROMPT, max_tokens=max_tokens, **(payload_extra or {}))
        return await endpoint.call(payload, timeout=10)


async def test_stream_timings_text_usage_and_id(anthropic_emulator):
    emu = await anthropic_emulator(ttft_ms=100, itl_ms=10, output_tokens=6, cached_tokens=2)
    out = await call(emu.url)
    assert out.ok, out.error
    assert out.response_text == full_text(6)
    assert 0.099 <= out.time_to_first_token <= 0.15
    assert out.time_to_last_token - out.time_to_first_token == pytest.approx(0.05, abs=0.02)
    assert out.time_to_first_content_token == out.time_to_first_token
    assert (out.num_tokens_input, out.num_tokens_input_cached, out.num_tokens_output) == (5, 2, 6)
    assert out.annotations["finish_reason"] == "end_turn"
    truth = emu.state.truth.get(out.id)
    assert truth is not None and truth.completed
    assert out.input_payload == {
        "messages": [{"role": "user", "content": PROMPT}],
        "max_tokens": 100,
        "model": "claude",
        "stream": True,
    }


async def test_non_stream(anthropic_emulator):
    emu = await anthropic_emulator(ttft_ms=50, itl_ms=10, output_tokens=5)
    out = await call(emu.url, stream=False, max_tokens=3)
    assert out.ok, out.error
    assert out.time_to_first_token is None
    assert 0.069 <= out.time_to_last_token <= 0.13  # 50 ms + 2 x 10 ms
    assert out.response_text == full_text(3)
    assert (out.num_tokens_input, out.num_tokens_output) == (5, 3)
    assert out.annotations["finish_reason"] == "max_tokens"


async def test_thinking_first_token_is_the_first_thinking_delta(anthropic_emulator):
    """Reasoning streams (issue 8): TTFT at the first generated token of any kind, the first
    answer token apart, TPOT over every streamed token."""
    emu = await anthropic_emulator(ttft_ms=100, itl_ms=10, output_tokens=10, reasoning_tokens=10)
    thinking = {"thinking": {"type": "enabled", "budget_tokens": 1024}}
    out = await call(emu.url, payload_extra=thinking)
    assert out.ok, out.error
    truth = emu.state.truth.get(out.id)
    assert out.time_to_first_token == pytest.approx(truth.ttft_ms / 1000, abs=0.02)
    first_content = out.time_to_first_content_token
    assert first_content - out.time_to_first_token == pytest.approx(0.100, abs=0.02)  # 10 thinking tokens
    assert out.time_to_last_token - out.time_to_first_token == pytest.approx(0.190, abs=0.02)
    assert out.num_tokens_output == 20
    assert out.response_text == full_text(10)  # the answer only


async def test_key_and_version_headers(monkeypatch, serve):
    seen = {}

    async def handler(request: web.Request) -> web.Response:
        seen.update(request.headers)
        return web.json_response(
            {
                "id": "msg_1",
                "type": "message",
                "content": [{"type": "text", "text": "hi"}],
                "stop_reason": "end_turn",
                "usage": {"input_tokens": 1, "output_tokens": 1},
            }
        )

    base = await serve(handler)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    out = await call(base, stream=False)
    assert out.ok, out.error
    assert seen["x-api-key"] == "sk-ant-test" and "Authorization" not in seen
    assert seen["anthropic-version"] == "2023-06-01"
    seen.clear()
    out = await call(base, stream=False, anthropic_version="2024-01-01", api_key_env="MY_KEY")
    assert out.ok, out.error
    assert seen["anthropic-version"] == "2024-01-01" and "x-api-key" not in seen
    endpoint = AnthropicMessagesEndpoint(model_id="m", base_url=base, api_key="sk-ant-secret")
    assert "sk-ant-secret" not in repr(endpoint.to_config()) and "sk-ant-secret" not in repr(endpoint)


@pytest.mark.parametrize("stream", [True, False])
async def test_429_and_500_are_recorded_with_their_status(anthropic_emulator, stream):
    emu = await anthropic_emulator(ttft_ms=0, itl_ms=0, rate_429=1.0)
    out = await call(emu.url, stream=stream)
    assert out.error_type == "http_429" and "rate_limit_error" in out.error
    emu = await anthropic_emulator(ttft_ms=0, itl_ms=0, rate_500=1.0)
    out = await call(emu.url, stream=stream)
    assert out.error_type == "http_500" and "api_error" in out.error


async def test_error_event_mid_stream_keeps_what_arrived(anthropic_emulator):
    emu = await anthropic_emulator(ttft_ms=0, itl_ms=1, output_tokens=6, rate_disconnect=1.0)
    out = await call(emu.url)
    assert out.error_type == "overloaded_error"
    assert out.response_text == full_text(3) and out.time_to_first_token is not None


async def test_dropped_stream_is_incomplete(anthropic_emulator):
    emu = await anthropic_emulator(ttft_ms=0, itl_ms=1, output_tokens=6, rate_disconnect=1.0, disconnect_mode="drop")
    out = await call(emu.url)
    assert not out.ok and out.response_text == full_text(3)


def _sse(*events: tuple[str, str]) -> list[bytes]:
    return [f"event: {name}\ndata: {data}\n\n".encode() for name, data in events]


async def test_pings_cache_writes_and_cumulative_usage(canned):
    pieces = _sse(
        (
            "message_start",
            '{"type":"message_start","message":{"id":"msg_9","usage":{"input_tokens":4,'
            '"cache_creation_input_tokens":10,"cache_read_input_tokens":20,"output_tokens":1}}}',
        ),
        ("content_block_start", '{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
        ("ping", '{"type": "ping"}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'),
        ("ping", '{"type": "ping"}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" you"}}'),
        ("content_block_stop", '{"type":"content_block_stop","index":0}'),
        ("message_delta", '{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}'),
        ("message_stop", '{"type":"message_stop"}'),
    )
    base = (await canned("/v1/messages", pieces)).removesuffix("/v1")
    out = await call(base)
    assert out.ok, out.error
    assert out.id == "msg_9" and out.response_text == "Hi you"
    assert (out.num_tokens_input, out.num_tokens_input_cached, out.num_tokens_output) == (34, 20, 2)


async def test_stream_without_message_stop_is_incomplete(canned):
    pieces = _sse(
        ("message_start", '{"type":"message_start","message":{"id":"msg_1","usage":{"input_tokens":1}}}'),
        ("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}'),
    )
    base = (await canned("/v1/messages", pieces)).removesuffix("/v1")
    out = await call(base)
    assert out.error_type == "incomplete_stream" and out.response_text == "Hi"


def test_registered_and_max_tokens_required():
    endpoint = create_endpoint("anthropic-messages", model_id="m", base_url="http://127.0.0.1:1")
    assert isinstance(endpoint, AnthropicMessagesEndpoint)
    assert endpoint.to_config()["anthropic_version"] == "2023-06-01"
    with pytest.raises(ConfigError) as caught:
        endpoint.payload_for("hello")
    assert caught.value.field == "payloads.max_tokens"
    with pytest.raises(ConfigError):
        create_endpoint("anthropic-messages", model_id="m", anthropic_version="bad\nversion")


@pytest.fixture
async def serve():
    """``await serve(handler)``: a server answering POST /v1/messages; returns its base URL."""
    runners = []

    async def start(handler) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()
