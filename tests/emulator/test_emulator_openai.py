"""The OpenAI emulator through the real ``openai`` SDK (wire format) and a raw client (timing)."""

from __future__ import annotations

import asyncio
import itertools

import httpx
import openai
import orjson
import pytest

from tests.timing import LoopLag

CHAT = [{"role": "user", "content": "one two three four"}]


@pytest.fixture
async def sdk():
    """``sdk(emu)``: an ``openai.AsyncOpenAI`` client of the emulator, closed after the test (a
    client left to the garbage collector closes itself later, on a closed loop, and logs an
    error into whichever test is running then)."""
    clients: list[openai.AsyncOpenAI] = []

    def make(emu) -> openai.AsyncOpenAI:
        clients.append(openai.AsyncOpenAI(base_url=emu.url + "/v1", api_key="x", max_retries=0))
        return clients[-1]

    yield make
    for client in clients:
        await client.close()


async def test_chat_json_usage_cached_reasoning_and_length(emulator, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=6, cached_tokens=3, reasoning_tokens=2)
    client = sdk(emu)
    full = await client.chat.completions.create(model="m1", messages=CHAT)
    assert full.choices[0].message.content == "tok0 tok1 tok2 tok3 tok4 tok5"
    assert full.choices[0].finish_reason == "stop"
    assert full.model == "m1"
    assert full.usage.prompt_tokens == 4
    assert full.usage.completion_tokens == 8  # 6 visible + 2 reasoning
    assert full.usage.total_tokens == 12
    assert full.usage.prompt_tokens_details.cached_tokens == 3
    assert full.usage.completion_tokens_details.reasoning_tokens == 2
    cut = await client.chat.completions.create(model="m1", messages=CHAT, max_completion_tokens=2)
    assert cut.choices[0].message.content == "tok0 tok1"
    assert cut.choices[0].finish_reason == "length"
    legacy = await client.chat.completions.create(model="m1", messages=CHAT, max_tokens=4)
    assert len(legacy.choices[0].message.content.split()) == 4


async def test_cached_tokens_never_exceed_the_prompt(emulator, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=1, cached_tokens=100)
    reply = await sdk(emu).chat.completions.create(model="m", messages=CHAT)
    assert reply.usage.prompt_tokens_details.cached_tokens == 4


async def test_chat_stream_with_usage_chunk(emulator, sdk):
    emu = await emulator("openai", ttft_ms=5, itl_ms=1, output_tokens=5, cached_tokens=1)
    stream = await sdk(emu).chat.completions.create(
        model="m", messages=CHAT, stream=True, stream_options={"include_usage": True}, max_tokens=3
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "tok0 tok1 tok2"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "length"
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens == 3
    assert chunks[-1].usage.prompt_tokens == 4
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 1
    assert len({c.id for c in chunks}) == 1


async def test_chat_stream_without_include_usage_has_no_usage_and_ends_with_done(emulator, timed_post, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=3)
    _, raw = await timed_post(emu.url, "/v1/chat/completions", {"messages": CHAT, "stream": True}, b"tok")
    assert b'"usage"' not in raw
    assert raw.rstrip().endswith(b"data: [DONE]")
    chunks = [chunk async for chunk in await sdk(emu).chat.completions.create(model="m", messages=CHAT, stream=True)]
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)


async def test_responses_json_and_incomplete(emulator, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=4, cached_tokens=1, reasoning_tokens=1)
    client = sdk(emu)
    reply = await client.responses.create(model="m", input="a b c", instructions="be brief")
    assert reply.output_text == "tok0 tok1 tok2 tok3"
    assert reply.status == "completed"
    assert reply.usage.input_tokens == 5
    assert reply.usage.output_tokens == 5
    assert reply.usage.input_tokens_details.cached_tokens == 1
    assert reply.usage.output_tokens_details.reasoning_tokens == 1
    listed = await client.responses.create(
        model="m", input=[{"role": "user", "content": [{"type": "input_text", "text": "x y"}]}], max_output_tokens=2
    )
    assert listed.output_text == "tok0 tok1"
    assert listed.status == "incomplete"
    assert listed.incomplete_details.reason == "max_output_tokens"
    assert listed.usage.input_tokens == 2


async def test_responses_stream_event_order_and_usage(emulator, sdk):
    emu = await emulator("openai", ttft_ms=2, itl_ms=1, output_tokens=3, cached_tokens=2)
    stream = await sdk(emu).responses.create(model="m", input="p q r", stream=True)
    events = [event async for event in stream]
    types = [event.type for event in events]
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == "tok0 tok1 tok2"
    usage = events[-1].response.usage
    assert (usage.input_tokens, usage.output_tokens, usage.input_tokens_details.cached_tokens) == (3, 3, 2)
    cut = [
        e.type async for e in await sdk(emu).responses.create(model="m", input="p", stream=True, max_output_tokens=1)
    ]
    assert cut[-1] == "response.incomplete"


async def test_models_and_bad_json(emulator, sdk):
    emu = await emulator("openai", model="my-model")
    models = await sdk(emu).models.list()
    assert [m.id for m in models.data] == ["my-model"]
    async with httpx.AsyncClient() as client:
        bad = await client.post(emu.url + "/v1/chat/completions", content=b"{not json")
    assert bad.status_code == 400
    assert "error" in bad.json()


async def test_ttft_and_token_schedule_do_not_drift(emulator, timed_post):
    emu = await emulator("openai", ttft_ms=100, itl_ms=10, output_tokens=20)
    async with LoopLag() as lag:  # the loop's own lateness in this test: the allowance on a busy machine
        times, _ = await timed_post(emu.url, "/v1/chat/completions", {"messages": CHAT, "stream": True}, b"tok")
    late = lag.worst_ms
    assert len(times) == 20
    assert 100 <= times[0] <= 130 + late
    # Last token due at 100 + 19 * 10 = 290 ms after the start, whatever the jitter before it.
    assert 290 <= times[-1] <= 315 + late
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert sum(gaps) / len(gaps) == pytest.approx(10, abs=1.5 + late / len(gaps))
    truth = emu.state.truth
    record = next(iter(truth.records.values()))
    assert record.ttft_ms == 100 and record.itl_ms == 10 and record.output_tokens == 20
    assert 100 <= record.first_token_ms <= 115 + late
    assert 290 <= record.last_token_ms <= 305 + late
    assert record.tokens_sent == 20 and record.completed


async def test_non_streaming_reply_waits_for_the_whole_generation(emulator, timed_post):
    emu = await emulator("openai", ttft_ms=50, itl_ms=5, output_tokens=11)
    async with LoopLag() as lag:
        times, raw = await timed_post(emu.url, "/v1/chat/completions", {"messages": CHAT}, b'"chat.completion"')
    assert len(times) == 1
    assert 100 <= times[0] <= 130 + lag.worst_ms  # 50 + 10 * 5


async def test_zero_latency_never_sleeps(emulator, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=50)
    client = sdk(emu)

    async def one() -> int:
        stream = await client.chat.completions.create(model="m", messages=CHAT, stream=True)
        return len([chunk async for chunk in stream if chunk.choices and chunk.choices[0].delta.content])

    counts = await asyncio.gather(*(one() for _ in range(40)))
    assert counts == [50] * 40
    # never put to sleep: every reply's 50 tokens went out in its one write
    assert all(r.first_token_ms == r.last_token_ms for r in emu.state.truth.records.values())
    stats = emu.stats()
    assert stats["completed"] == 40 and stats["output_tokens_sent"] == 2000


async def test_429_with_retry_after_and_500(emulator, sdk):
    emu = await emulator("openai", rate_429=1.0, retry_after_s=2)
    with pytest.raises(openai.RateLimitError) as info:
        await sdk(emu).chat.completions.create(model="m", messages=CHAT)
    assert info.value.response.headers["retry-after"] == "2"
    assert info.value.response.headers["x-request-id"].startswith("chatcmpl-")
    emu500 = await emulator("openai", rate_500=1.0)
    with pytest.raises(openai.InternalServerError):
        await sdk(emu500).responses.create(model="m", input="x")
    assert emu.stats()["faults"] == {"429": 1}
    assert emu500.stats()["faults"] == {"500": 1}
    assert emu500.stats()["completed"] == 0


async def test_disconnect_mid_stream_keeps_the_first_half(emulator, sdk):
    emu = await emulator("openai", ttft_ms=1, itl_ms=1, output_tokens=6, rate_disconnect=1.0)
    received = []
    with pytest.raises(openai.APIConnectionError):
        stream = await sdk(emu).chat.completions.create(model="m", messages=CHAT, stream=True)
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "tok0 tok1 tok2"
    with pytest.raises(openai.APIConnectionError):
        await sdk(emu).chat.completions.create(model="m", messages=CHAT)
    record = list(emu.state.truth.records.values())[0]
    assert record.fault == "disconnect" and record.tokens_sent == 3 and not record.completed


async def test_disconnect_in_error_mode_sends_an_error_chunk(emulator, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=4, rate_disconnect=1.0, disconnect_mode="error")
    received = []
    with pytest.raises(openai.APIError):
        async for chunk in await sdk(emu).chat.completions.create(model="m", messages=CHAT, stream=True):
            received.append(chunk.choices[0].delta.content)
    assert "".join(received) == "tok0 tok1"
    # The Responses stream reports it as an ``error`` event; the SDK yields it, not raises.
    events = [event async for event in await sdk(emu).responses.create(model="m", input="x", stream=True)]
    assert [e.type for e in events].count("response.output_text.delta") == 2
    assert events[-1].type == "error" and events[-1].code == "server_error"


async def test_slow_first_byte_delays_the_headers(emulator, timed_post):
    emu = await emulator(
        "openai", ttft_ms=20, itl_ms=0, output_tokens=2, rate_slow_first_byte=1.0, slow_first_byte_ms=150
    )
    async with LoopLag() as lag:
        times, raw = await timed_post(
            emu.url, "/v1/chat/completions", {"messages": CHAT, "stream": True}, b"HTTP/1.1 200"
        )
    assert 150 <= times[0] <= 185 + lag.worst_ms
    record = list(emu.state.truth.records.values())[0]
    assert record.fault == "slow_first_byte" and record.ttft_ms == pytest.approx(170)
    assert 170 <= record.first_token_ms <= 185 + lag.worst_ms


async def test_token_times_are_stamped_before_the_write(emulator, timed_post, monkeypatch):
    """The ground truth is a floor no client can beat: a server descheduled right after a
    write (an emulator thread waiting for the GIL while the client reads) must not record the
    token later than the client saw it."""
    from aiohttp import web

    real_write = web.StreamResponse.write

    async def write_then_stall(self, data):
        await real_write(self, data)
        await asyncio.sleep(0.03)  # the client's read runs now, before the server's next step

    monkeypatch.setattr(web.StreamResponse, "write", write_then_stall)
    emu = await emulator("openai", ttft_ms=20, itl_ms=5, output_tokens=5)
    times, raw = await timed_post(emu.url, "/v1/chat/completions", {"messages": CHAT, "stream": True}, b"tok")
    assert len(times) == 5 and raw.endswith(b"0\r\n\r\n")
    record = next(iter(emu.state.truth.records.values()))
    assert record.tokens_sent == 5 and record.completed
    assert times[0] >= record.first_token_ms >= 20
    assert times[-1] >= record.last_token_ms


async def test_the_truth_says_when_the_request_was_read_before_its_handler_started(emulator, timed_post, monkeypatch):
    """A server busy after reading a request (a wave parsed at once, other connections'
    writes) starts its handler late; ``read_s`` keeps the arrival, so the server's TTFT counted
    from it stays a floor of the client's while the handler's own start is later."""
    import time

    from aiohttp.web_protocol import RequestHandler

    real = RequestHandler.data_received

    def read_then_busy(self, data):
        real(self, data)
        time.sleep(0.03)  # the loop is busy before the handler gets to run

    monkeypatch.setattr(RequestHandler, "data_received", read_then_busy)
    emu = await emulator("openai", ttft_ms=10, itl_ms=1, output_tokens=2)
    times, _ = await timed_post(emu.url, "/v1/chat/completions", {"messages": CHAT, "stream": True}, b"tok")
    record = next(iter(emu.state.truth.records.values()))
    waited_ms = (record.started_s - record.read_s) * 1000.0
    assert waited_ms >= 30
    assert times[0] >= record.first_token_ms + waited_ms >= 40


async def test_seeded_fault_rates_and_counters(emulator):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=1, rate_429=0.2, rate_500=0.1, seed=7)
    body = {"model": "m", "messages": CHAT}
    async with httpx.AsyncClient(base_url=emu.url) as http:
        outcomes = [(await http.post("/v1/chat/completions", json=body)).status_code for _ in range(250)]
        stats = emu.stats()
        assert stats["requests"] == 250 and stats["requests_by_api"] == {"openai.chat": 250}
        assert stats["faults"] == {"429": outcomes.count(429), "500": outcomes.count(500)}
        assert stats["completed"] == outcomes.count(200)
        assert 30 <= outcomes.count(429) <= 72  # expected 50
        assert 10 <= outcomes.count(500) <= 42  # expected 25
        assert (await http.post("/emulator/reset")).status_code == 200
        assert (await http.get("/emulator/stats")).json()["requests"] == 0
        replay = [(await http.post("/v1/chat/completions", json=body)).status_code for _ in range(250)]
    assert replay == outcomes  # reset re-seeds: same draws in the same order


async def test_request_ground_truth_by_id(emulator, sdk):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens={"dist": "uniform", "low": 3, "high": 9})
    reply = await sdk(emu).chat.completions.create(model="m", messages=CHAT)
    async with httpx.AsyncClient() as http:
        truth = (await http.get(f"{emu.url}/emulator/requests/{reply.id}")).json()
        missing = await http.get(f"{emu.url}/emulator/requests/nope")
    assert missing.status_code == 404
    assert truth["output_tokens"] == reply.usage.completion_tokens == len(reply.choices[0].message.content.split())
    assert truth["input_tokens"] == 4 and truth["api"] == "openai.chat" and truth["stream"] is False
    assert orjson.loads(orjson.dumps(truth))["completed"] is True


async def test_client_leaving_mid_stream_is_counted_not_logged(emulator, caplog):
    emu = await emulator("all", ttft_ms=5, itl_ms=20, output_tokens=10)
    for path in ("/v1/chat/completions", "/model/anthropic.claude/converse-stream"):
        reader, writer = await asyncio.open_connection(emu.host, emu.port)
        data = orjson.dumps({"messages": CHAT, "stream": True})
        writer.write(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
        assert b"200" in await reader.read(65536)
        writer.close()
    for _ in range(50):
        if emu.stats()["client_aborted"] == 2:
            break
        await asyncio.sleep(0.02)
    assert emu.stats()["client_aborted"] == 2 and emu.stats()["completed"] == 0
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
