"""The Anthropic Messages emulator through the real ``anthropic`` SDK (wire format), with
faults and ground truth."""

from __future__ import annotations

import anthropic
import pytest

MESSAGES = [{"role": "user", "content": "one two three four"}]


def sdk(emulator) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=emulator.url, api_key="test-key", max_retries=0)


async def test_json_message_usage_and_stop_reason(emulator):
    emu = await emulator("anthropic", ttft_ms=0, itl_ms=0, output_tokens=5, cached_tokens=3)
    client = sdk(emu)
    reply = await client.messages.create(model="claude-x", max_tokens=100, messages=MESSAGES, system="be brief")
    assert reply.content[0].type == "text" and reply.content[0].text == "tok0 tok1 tok2 tok3 tok4"
    assert reply.stop_reason == "end_turn" and reply.model == "claude-x"
    assert reply.usage.input_tokens == 6 - 3  # the uncached part of 6 prompt words
    assert reply.usage.cache_read_input_tokens == 3
    assert reply.usage.output_tokens == 5
    cut = await client.messages.create(model="m", max_tokens=2, messages=MESSAGES)
    assert cut.content[0].text == "tok0 tok1" and cut.stop_reason == "max_tokens"
    truth = emu.state.truth.get(reply.id)
    assert truth is not None and truth.completed and truth.api == "anthropic.messages"


async def test_stream_events_through_the_sdk(emulator):
    emu = await emulator("anthropic", ttft_ms=5, itl_ms=1, output_tokens=4)
    client = sdk(emu)
    kinds = []
    async with client.messages.stream(model="m", max_tokens=10, messages=MESSAGES) as stream:
        async for event in stream:
            kinds.append(event.type)
        final = await stream.get_final_message()
    assert final.content[0].text == "tok0 tok1 tok2 tok3"
    assert final.usage.output_tokens == 4 and final.stop_reason == "end_turn"
    assert kinds[0] == "message_start" and "content_block_stop" in kinds and kinds[-1] == "message_stop"


async def test_thinking_block_streams_before_the_text(emulator):
    emu = await emulator("anthropic", ttft_ms=0, itl_ms=0, output_tokens=3, reasoning_tokens=4)
    client = sdk(emu)
    thinking = {"type": "enabled", "budget_tokens": 1024}
    async with client.messages.stream(model="m", max_tokens=50, messages=MESSAGES, thinking=thinking) as stream:
        final = await stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].thinking == "think0 think1 think2 think3"
    assert final.content[1].text == "tok0 tok1 tok2"
    assert final.usage.output_tokens == 7
    plain = await client.messages.create(model="m", max_tokens=50, messages=MESSAGES, thinking=thinking)
    assert [b.type for b in plain.content] == ["thinking", "text"] and plain.usage.output_tokens == 7
    no_thinking = await client.messages.create(model="m", max_tokens=50, messages=MESSAGES)
    assert [b.type for b in no_thinking.content] == ["text"] and no_thinking.usage.output_tokens == 3


async def test_faults_are_anthropic_errors(emulator):
    emu = await emulator("anthropic", ttft_ms=0, itl_ms=0, rate_429=1.0, retry_after_s=2)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await sdk(emu).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert caught.value.response.headers["retry-after"] == "2"
    assert caught.value.body["error"]["type"] == "rate_limit_error"
    emu = await emulator("anthropic", ttft_ms=0, itl_ms=0, rate_500=1.0)
    with pytest.raises(anthropic.InternalServerError):
        await sdk(emu).messages.create(model="m", max_tokens=5, messages=MESSAGES)
    assert emu.stats()["faults"] == {"500": 1}


async def test_disconnect_sends_an_error_event_half_way(emulator, timed_post):
    emu = await emulator("anthropic", ttft_ms=0, itl_ms=0, output_tokens=6, rate_disconnect=1.0)
    _, raw = await timed_post(
        emu.url, "/v1/messages", {"messages": MESSAGES, "max_tokens": 10, "stream": True}, b"text_delta"
    )
    assert raw.count(b'"text_delta"') == 3
    assert b"event: error" in raw and b"overloaded_error" in raw and b"message_stop" not in raw


async def test_missing_max_tokens_is_a_400(emulator, timed_post):
    emu = await emulator("anthropic")
    _, raw = await timed_post(emu.url, "/v1/messages", {"messages": MESSAGES}, b"error")
    assert raw.startswith(b"HTTP/1.1 400") and b"invalid_request_error" in raw
    assert emu.stats()["requests"] == 0


async def test_stream_token_times_follow_the_schedule(emulator, timed_post):
    emu = await emulator("anthropic", ttft_ms=80, itl_ms=10, output_tokens=5, reasoning_tokens=2)
    body = {
        "messages": MESSAGES,
        "max_tokens": 10,
        "stream": True,
        "thinking": {"type": "enabled", "budget_tokens": 64},
    }
    thinking, raw = await timed_post(emu.url, "/v1/messages", body, b'"thinking_delta"')
    text, _ = await timed_post(emu.url, "/v1/messages", body, b'"text_delta"')
    assert len(thinking) == 2 and len(text) == 5
    assert thinking[0] == pytest.approx(80, abs=25)
    assert text[0] == pytest.approx(100, abs=25)  # the first text token: 2 thinking tokens later
    assert text[-1] - text[0] == pytest.approx(40, abs=15)
