"""What both OpenAI endpoints share (``endpoints/_http.py``): the API key stays secret,
connections are pooled and reused, settings are validated."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from llmeter_core.emulator import start_emulator
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints._http import error_message, sse_events
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from llmeter_core.endpoints.openai_responses import OpenAIResponsesEndpoint
from llmeter_core.errors import ConfigError

SECRET = "sk-test-very-secret-123"
ENDPOINTS = [OpenAIChatEndpoint, OpenAIResponsesEndpoint]


@pytest.fixture
async def echo_server():
    """A server that records request headers and answers with an error echoing them back
    (the worst case for leaking a key into an error message)."""
    seen: list[dict[str, str]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"error": {"message": f"bad auth: {request.headers.get('Authorization')}"}},
                                 status=401)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    app.router.add_post("/v1/responses", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1", seen
    await runner.cleanup()


@pytest.fixture
async def emulator():
    emu = await start_emulator("openai", {"ttft_ms": 0, "itl_ms": 0, "output_tokens": 3})
    yield emu
    await emu.stop()


@pytest.fixture
async def count_connects(monkeypatch):
    """Count TCP connections the client opens (``loop.create_connection`` calls)."""
    loop = asyncio.get_running_loop()
    original = loop.create_connection
    calls = []

    async def counting(*args, **kwargs):
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", counting)
    return calls


@pytest.mark.parametrize("cls", ENDPOINTS)
async def test_api_key_sent_as_bearer_and_never_written_out(cls, echo_server):
    url, seen = echo_server
    endpoint = cls(model_id="m", base_url=url, api_key=SECRET, headers={"x-api-key": SECRET})
    async with endpoint:
        out = await endpoint.call(cls.create_payload("hi"), timeout=5)
    assert seen[0]["Authorization"] == f"Bearer {SECRET}"
    assert out.error_type == "http_401"
    assert "bad auth" in out.error
    for text in (str(endpoint.to_config()), repr(endpoint), str(endpoint), out.error, str(out.to_json())):
        assert SECRET not in text
    assert endpoint.to_config()["headers"] == ["x-api-key"]


@pytest.mark.parametrize("cls", ENDPOINTS)
async def test_api_key_from_environment(cls, echo_server, monkeypatch):
    url, seen = echo_server
    monkeypatch.setenv("MY_KEY_VAR", SECRET)
    endpoint = create_endpoint(cls.endpoint_type, model_id="m", base_url=url, api_key_env="MY_KEY_VAR")
    async with endpoint:
        await endpoint.call(cls.create_payload("hi"), timeout=5)
    assert seen[0]["Authorization"] == f"Bearer {SECRET}"
    config = endpoint.to_config()
    assert config["api_key_env"] == "MY_KEY_VAR" and SECRET not in str(config)


async def test_no_key_no_authorization_header(echo_server, monkeypatch):
    url, seen = echo_server
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    async with OpenAIChatEndpoint(model_id="m", base_url=url) as endpoint:
        await endpoint.call(OpenAIChatEndpoint.create_payload("hi"), timeout=5)
    assert "Authorization" not in seen[0]


@pytest.mark.parametrize("cls", ENDPOINTS)
@pytest.mark.parametrize("stream", [True, False])
async def test_sequential_requests_reuse_one_connection(cls, stream, emulator, count_connects):
    async with cls(model_id="m", base_url=emulator.url + "/v1", stream=stream) as endpoint:
        for _ in range(20):
            out = await endpoint.call(cls.create_payload("hi"), timeout=5)
            assert out.ok, out.error
    assert len(count_connects) == 1


async def test_streams_with_latency_reuse_connections(count_connects):
    """A real stream (headers, then chunks over time, chunked encoding) also goes back to the pool."""
    emu = await start_emulator("openai", {"ttft_ms": 5, "itl_ms": 1, "output_tokens": 5})
    try:
        async with OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1") as endpoint:
            for _ in range(5):
                assert (await endpoint.call(OpenAIChatEndpoint.create_payload("hi"), timeout=5)).ok
    finally:
        await emu.stop()
    assert len(count_connects) == 1


async def test_max_connections_caps_the_pool(count_connects):
    emu = await start_emulator("openai", {"ttft_ms": 20, "itl_ms": 0, "output_tokens": 1})
    try:
        async with OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1", max_connections=2) as endpoint:
            outs = await asyncio.gather(*(endpoint.call({"messages": []}, timeout=5) for _ in range(8)))
    finally:
        await emu.stop()
    assert all(o.ok for o in outs)
    assert len(count_connects) == 2


async def test_connection_refused_is_an_error_response():
    async with OpenAIChatEndpoint(model_id="m", base_url="http://127.0.0.1:9/v1") as endpoint:
        out = await endpoint.call({"messages": []}, timeout=5)
    assert out.error_type == "ClientConnectorError"


async def test_call_without_open_opens_lazily_and_aclose_closes(emulator):
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=emulator.url + "/v1")
    assert (await endpoint.call({"messages": []}, timeout=5)).ok
    session = endpoint._session
    await endpoint.aclose()
    assert session.closed and endpoint._session is None


@pytest.mark.parametrize("field, kwargs", [
    ("endpoint.base_url", {"base_url": "127.0.0.1:8000"}),
    ("endpoint.max_connections", {"base_url": "http://h/v1", "max_connections": -1}),
    ("endpoint.extra_body", {"base_url": "http://h/v1", "extra_body": ["x"]}),
    ("endpoint.base_url", {}),
])
def test_bad_settings_name_the_field(field, kwargs):
    with pytest.raises(ConfigError) as info:
        create_endpoint("openai-chat", model_id="m", **kwargs)
    assert info.value.field == field


def test_error_message_shapes():
    assert error_message(b'{"error": {"message": "slow down", "code": "rate_limit"}}') == "rate_limit: slow down"
    assert error_message(b'{"detail": "not found"}') == "not found"
    assert error_message(b"plain\n  text") == "plain text"
    assert len(error_message(b"y" * 1000)) == 300


async def test_sse_events_pairs_event_names_with_data():
    from aiohttp import StreamReader
    from aiohttp.base_protocol import BaseProtocol

    loop = asyncio.get_running_loop()
    reader = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    reader.feed_data(b"event: a\ndata: 1\n\n: comment\ndata: 2\n\nevent: b\nid: 7\ndata:3\n\n")
    reader.feed_eof()
    assert [item[1:] async for item in sse_events(reader)] == [(b"a", b"1"), (None, b"2"), (b"b", b"3")]


async def test_sse_events_lines_split_across_chunks_crlf_and_long_lines():
    """Lines cut anywhere between network chunks are reassembled; CRLF endings work; a line
    far longer than aiohttp's readline limit (2 x 64 KiB) is accepted; a last line without its
    newline is not lost."""
    long_value = b"x" * 300_000
    stream = b"event: big\r\ndata: " + long_value + b"\r\n\r\ndata: two\n\ndata: tail"
    pieces = [stream[start:start + 7001] for start in range(0, len(stream), 7001)]  # odd cuts

    class Chunks:  # what sse_events uses of an aiohttp StreamReader: readany()
        async def readany(self) -> bytes:
            return pieces.pop(0) if pieces else b""

    reader = Chunks()
    items = [item async for item in sse_events(reader)]
    assert [(event, data[:3], len(data)) for _, event, data in items] == [
        (b"big", b"xxx", 300_000), (None, b"two", 3), (None, b"tai", 4)]
    assert all(isinstance(arrival, int) for arrival, _, _ in items)
