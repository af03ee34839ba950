"""What both OpenAI endpoints share (``endpoints/openai_compatible.py`` over
``endpoints/transport/clients.py``): the API key stays secret,
connections are pooled and reused, settings are validated."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time

import orjson
import pytest
from aiohttp import web

from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from llmeter_core.endpoints.openai_compatible import error_message
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
        return web.json_response(
            {"error": {"message": f"bad auth: {request.headers.get('Authorization')}"}}, status=401
        )

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    app.router.add_post("/v1/responses", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/v1", seen
    await runner.cleanup()


@pytest.fixture
async def fast_emulator(emulator):
    """An OpenAI emulator answering 3 tokens at once."""
    return await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=3)


@pytest.mark.parametrize("cls", ENDPOINTS)
@pytest.mark.parametrize("http_client", ["direct", "aiohttp"])
async def test_api_key_sent_as_bearer_and_never_written_out(cls, http_client, echo_server):
    url, seen = echo_server
    endpoint = cls(model_id="m", base_url=url, api_key=SECRET, headers={"x-api-key": SECRET}, http_client=http_client)
    async with endpoint:
        out = await endpoint.call(cls.create_payload("hi"), timeout=5)
    assert seen[0]["Authorization"] == f"Bearer {SECRET}"
    assert out.error_type == "http_401"
    assert "bad auth" in out.error
    for text in (str(endpoint.to_config()), repr(endpoint), str(endpoint), out.error, str(out.to_json())):
        assert SECRET not in text
    assert endpoint.to_config()["headers"] == ["x-api-key"]
    assert endpoint.to_config()["http_client"] == http_client


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
@pytest.mark.parametrize("http_client", ["direct", "aiohttp"])
async def test_sequential_requests_reuse_one_connection(cls, stream, http_client, fast_emulator, count_connects):
    async with cls(
        model_id="m", base_url=fast_emulator.url + "/v1", stream=stream, http_client=http_client
    ) as endpoint:
        for _ in range(20):
            out = await endpoint.call(cls.create_payload("hi"), timeout=5)
            assert out.ok, out.error
    assert len(count_connects) == 1


async def test_streams_with_latency_reuse_connections(emulator, count_connects):
    """A real stream (headers, then chunks over time, chunked encoding) also goes back to the pool."""
    emu = await emulator("openai", ttft_ms=5, itl_ms=1, output_tokens=5)
    async with OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1") as endpoint:
        for _ in range(5):
            assert (await endpoint.call(OpenAIChatEndpoint.create_payload("hi"), timeout=5)).ok
    assert len(count_connects) == 1


async def test_max_connections_caps_the_pool(emulator, count_connects):
    emu = await emulator("openai", ttft_ms=20, itl_ms=0, output_tokens=1)
    async with OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1", max_connections=2) as endpoint:
        outs = await asyncio.gather(*(endpoint.call({"messages": []}, timeout=5) for _ in range(8)))
    assert all(o.ok for o in outs)
    assert len(count_connects) == 2


@pytest.mark.parametrize("http_client, error_type", [("direct", "ConnectError"), ("aiohttp", "ClientConnectorError")])
async def test_connection_refused_is_an_error_response(http_client, error_type):
    async with OpenAIChatEndpoint(model_id="m", base_url="http://127.0.0.1:9/v1", http_client=http_client) as endpoint:
        out = await endpoint.call({"messages": []}, timeout=5)
    assert out.error_type == error_type
    assert "127.0.0.1:9" in out.error or http_client == "aiohttp"


async def test_call_without_open_opens_lazily_and_aclose_closes(fast_emulator):
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=fast_emulator.url + "/v1")
    assert (await endpoint.call({"messages": []}, timeout=5)).ok
    transport = endpoint._transport
    pool, key = transport._pool, transport._key
    assert pool.idle_count(key) == 1
    await endpoint.aclose()
    assert pool.closed and transport.closed and transport._pool is None and pool.idle_count(key) == 0
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=fast_emulator.url + "/v1", http_client="aiohttp")
    assert (await endpoint.call({"messages": []}, timeout=5)).ok
    session = endpoint._transport._session
    await endpoint.aclose()
    assert session.closed and endpoint._transport.closed


@pytest.mark.parametrize(
    "field, kwargs",
    [
        ("endpoint.base_url", {"base_url": "127.0.0.1:8000"}),
        ("endpoint.http_client", {"base_url": "http://h/v1", "http_client": "httpx"}),
        ("endpoint.base_url", {"base_url": "http://h:port/v1"}),
        ("endpoint.api_key", {"base_url": "http://h/v1", "api_key": "sk-1\r\nx-injected: 2"}),
        ("endpoint.headers", {"base_url": "http://h/v1", "headers": {"x-a": "1\r\nx-injected: 2"}}),
        ("endpoint.max_connections", {"base_url": "http://h/v1", "max_connections": -1}),
        ("endpoint.extra_body", {"base_url": "http://h/v1", "extra_body": ["x"]}),
        ("endpoint.base_url", {}),
    ],
)
def test_bad_settings_name_the_field(field, kwargs):
    with pytest.raises(ConfigError) as info:
        create_endpoint("openai-chat", model_id="m", **kwargs)
    assert info.value.field == field
    assert "sk-1" not in str(info.value)  # a bad key is named, never shown


def test_error_message_shapes():
    assert error_message(b'{"error": {"message": "slow down", "code": "rate_limit"}}') == "rate_limit: slow down"
    assert error_message(b'{"detail": "not found"}') == "not found"
    assert error_message(b"plain\n  text") == "plain text"
    assert len(error_message(b"y" * 1000)) == 300


# -- the direct client on the wire ------------------------------------------------------------
SSE_BODY = (
    b'data: {"id":"c1","choices":[{"delta":{"role":"assistant"}}]}\n\n'
    b'data: {"id":"c1","choices":[{"delta":{"content":"alpha "}}]}\n\n'
    b'data: {"id":"c1","choices":[{"delta":{"content":"beta"},"finish_reason":"stop"}]}\n\n'
    b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2}}\n\n'
    b"data: [DONE]\n\n"
)


def _framed(framing: str, body: bytes = SSE_BODY) -> bytes:
    """A 200 SSE response with ``body`` framed by content-length, chunks (cut at odd
    places, extensions, a trailer) or the end of the connection."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
    if framing == "length":
        return head + b"Content-Length: %d\r\n\r\n" % len(body) + body
    if framing == "close":
        return head + b"Connection: close\r\n\r\n" + body
    chunks = b"".join(b"%x;x=y\r\n%s\r\n" % (len(body[i : i + 37]), body[i : i + 37]) for i in range(0, len(body), 37))
    return head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\nX-Trailer: t\r\n\r\n"


class ThreadServer:
    """An HTTP server in its own threads, independent of the client's event loop: it records
    each request (line, headers, body) with the ``perf_counter`` of its arrival and answers
    with ``reply(n)`` (the n-th request of the connection; ``None``: hang up), then, with
    ``hang_up_after_reply``, closes the connection 50 ms later without notice.
    ``connections`` counts accepts."""

    def __init__(self, reply=lambda n: _framed("length"), hang_up_after_reply: bool = False):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/v1"
        self.reply = reply
        self.hang_up_after_reply = hang_up_after_reply
        self.requests: list[tuple[float, bytes, bytes]] = []
        self.received = threading.Event()
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        data, n = b"", 0
        with conn:
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, rest = data.partition(b"\r\n\r\n")
                    lower = head.lower()
                    length = (
                        int(lower.split(b"content-length: ")[1].split(b"\r\n")[0])
                        if b"content-length: " in lower
                        else 0
                    )
                    if len(rest) < length:
                        break
                    self.requests.append((time.perf_counter(), head, rest[:length]))
                    self.received.set()
                    data = rest[length:]
                    reply = self.reply(n)
                    n += 1
                    if reply is None:
                        return  # hang up without a reply
                    conn.sendall(reply)
                    if b"Connection: close" in reply:
                        return
                    if self.hang_up_after_reply:
                        time.sleep(0.05)
                        return

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def thread_server():
    servers = []

    def start(**kwargs) -> ThreadServer:
        servers.append(ThreadServer(**kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


async def test_direct_request_is_written_before_the_caller_yields(thread_server):
    """One step of ``invoke`` (run by hand, the event loop never gets control) puts the
    whole request, head and body, on the wire: a server in another thread receives it
    while this coroutine is still suspended at its first await."""
    server = thread_server()
    async with OpenAIChatEndpoint(model_id="m", base_url=server.url, api_key=SECRET) as endpoint:
        coro = endpoint.invoke(endpoint.prepare_payload({"messages": [{"role": "user", "content": "hé"}]}))
        try:
            coro.send(None)  # runs until the first real suspension: waiting for the response head
            assert server.received.wait(2), "the request did not leave before the first yield"
        finally:
            coro.close()
    _, head, body = server.requests[0]
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /v1/chat/completions HTTP/1.1"
    assert f"Authorization: Bearer {SECRET}".encode() in lines
    assert b"Host: " + server.url.split("//")[1].split("/")[0].encode() in lines
    assert orjson.loads(body)["messages"][0]["content"] == "hé" and orjson.loads(body)["model"] == "m"


async def test_burst_of_busy_clients_each_request_leaves_at_once(thread_server):
    """20 clients become ready together; each burns 5 ms of CPU right before sending. With a
    deferred write (aiohttp on Python 3.11) no request would leave before all 20 had burnt
    theirs (~100 ms), so none would reach the server before the last client sent; here each
    leaves as soon as its client sends it. Compared with the last client's own send time, not a
    fixed window: the server's threads stamping late on a busy machine cannot fail it (the 10th
    request has ~50 ms to be stamped)."""
    server = thread_server()
    sent_at: dict[bytes, float] = {}
    # the server's threads share this process's GIL: let them take it within 0.5 ms (not the
    # default 5 ms) so they timestamp arrivals while the clients burn CPU
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        await _burst(server, sent_at)
    finally:
        sys.setswitchinterval(switch)
    arrivals = {key: at for at, _, body in server.requests for key in sent_at if key in body}
    last_sent = max(sent_at.values())
    early = [key for key in sent_at if arrivals[key] < last_sent]
    delays_ms = sorted((arrivals[key] - sent) * 1000 for key, sent in sent_at.items())
    assert len(arrivals) == 20 and len(early) >= 10, delays_ms


async def _burst(server: "ThreadServer", sent_at: dict[bytes, float]) -> None:
    async with OpenAIChatEndpoint(model_id="m", base_url=server.url, stream=False) as endpoint:
        await asyncio.gather(*(endpoint.call({"messages": []}, timeout=5) for _ in range(20)))  # 20 connections
        server.requests.clear()

        async def client(i: int) -> None:
            deadline = time.perf_counter() + 0.005
            while time.perf_counter() < deadline:  # the client's own CPU work for this request
                pass
            sent_at[b'"c%d"' % i] = time.perf_counter()
            assert (await endpoint.call({"messages": [], "user": f"c{i}"}, timeout=5)).error_type == "JSONDecodeError"

        await asyncio.gather(*(client(i) for i in range(20)))


@pytest.mark.parametrize("framing", ["chunked", "length", "close"])
async def test_sse_over_every_body_framing(framing, thread_server, count_connects):
    """The same stream framed three ways parses the same; a keep-alive framing leaves the
    connection reusable (20 requests, 1 connection), read-until-close opens one per request."""
    server = thread_server(reply=lambda n: _framed(framing))
    async with OpenAIChatEndpoint(model_id="m", base_url=server.url) as endpoint:
        outs = [await endpoint.call({"messages": []}, timeout=5) for _ in range(20)]
    assert all(out.ok for out in outs), outs[0].error
    assert {out.response_text for out in outs} == {"alpha beta"}
    assert {(out.num_tokens_input, out.num_tokens_output, out.id) for out in outs} == {(4, 2, "c1")}
    assert 0 < outs[0].time_to_first_token <= outs[0].time_to_last_token < 1
    assert server.connections == len(count_connects) == (20 if framing == "close" else 1)


async def test_request_the_server_hung_up_on_is_a_recorded_failure_never_sent_again(thread_server):
    """A server that reads the second request of each connection and hangs up without
    replying (its idle timeout firing as the request arrives): it saw that request, so it is
    recorded as a failure, not sent again on a new connection (the server would count one
    request more than the run)."""
    server = thread_server(reply=lambda n: _framed("length") if n == 0 else None)
    async with OpenAIChatEndpoint(model_id="m", base_url=server.url) as endpoint:
        outs = [await endpoint.call({"messages": []}, timeout=5) for _ in range(3)]
    assert [out.error_type for out in outs] == [None, "ServerDisconnected", None]
    assert len(server.requests) == len(outs) and server.connections == 2
    assert all(not out.retries for out in outs)


async def test_idle_connection_closed_by_the_server_is_not_reused(thread_server):
    """A server that closes each connection shortly after its response, without saying so:
    the pool drops the closed connection and the next request opens a new one."""
    server = thread_server(hang_up_after_reply=True)
    async with OpenAIChatEndpoint(model_id="m", base_url=server.url) as endpoint:
        outs = []
        for _ in range(3):
            outs.append(await endpoint.call({"messages": []}, timeout=5))
            await asyncio.sleep(0.1)  # the server hangs up meanwhile
    assert all(out.ok for out in outs), [out.error for out in outs]
    assert len(server.requests) == 3 and server.connections == 3


# -- proxies ----------------------------------------------------------------------------------
def _clear_proxy_env(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.mark.parametrize(
    "variable, base_url",
    [
        ("HTTP_PROXY", "http://127.0.0.1:8000/v1"),
        ("HTTPS_PROXY", "https://api.example.com/v1"),
        ("ALL_PROXY", "http://api.example.com/v1"),
    ],
)
def test_direct_client_refuses_a_url_behind_a_proxy(variable, base_url, monkeypatch):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv(variable, "http://user:pw@proxy.internal:3128")
    with pytest.raises(ConfigError) as info:
        create_endpoint("openai-chat", model_id="m", base_url=base_url)
    assert info.value.field == "endpoint.http_client"
    assert "aiohttp" in str(info.value) and "pw" not in str(info.value)
    create_endpoint("openai-chat", model_id="m", base_url=base_url, http_client="aiohttp")  # the way through
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,api.example.com")
    create_endpoint("openai-chat", model_id="m", base_url=base_url)  # excluded from the proxy: fine


async def test_aiohttp_client_goes_through_the_proxy(thread_server, monkeypatch):
    """``http_client="aiohttp"`` sends to the proxy named in the environment (the request
    line carries the absolute URL of the real server)."""
    proxy = thread_server(reply=lambda n: _framed("close"))
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTP_PROXY", proxy.url.rsplit("/", 1)[0].replace("http://", "http://user:pw@"))
    async with OpenAIChatEndpoint(
        model_id="m", base_url="http://llm.invalid:8000/v1", http_client="aiohttp"
    ) as endpoint:
        out = await endpoint.call({"messages": []}, timeout=5)
    assert out.ok, out.error
    assert out.response_text == "alpha beta"
    warm, post = (head.split(b"\r\n") for _, head, _ in proxy.requests)
    assert warm[0] == b"HEAD http://llm.invalid:8000/ HTTP/1.1"  # open() warmed a connection through it
    assert post[0] == b"POST http://llm.invalid:8000/v1/chat/completions HTTP/1.1"
    assert b"Proxy-Authorization: Basic dXNlcjpwdw==" in post  # user:pw
