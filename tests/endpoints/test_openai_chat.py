"""OpenAIChatEndpoint against the emulator (timings, usage, faults) and against canned
streams for what the emulator does not send (parts content, missing usage, cut streams)."""

from __future__ import annotations

import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from tests.timing import LoopLag

from .aws_support import assert_matches_truth

PROMPT = "one two three four five"


async def call(base_url: str, stream: bool = True, max_tokens: int = 100, **kwargs):
    async with OpenAIChatEndpoint(model_id="m", base_url=base_url, stream=stream, **kwargs) as endpoint:
        return await endpoint.call(OpenAIChatEndpoint.create_payload(PROMPT, max_tokens=max_tokens), timeout=10)


async def test_stream_timings_text_usage_and_id(emulator):
    emu = await emulator("openai", ttft_ms=100, itl_ms=10, output_tokens=6)
    async with LoopLag() as lag:
        out = await call(emu.url + "/v1")
    assert out.ok, out.error
    assert out.response_text == full_text(6)
    assert out.time_to_first_token >= 0.099 and out.time_to_last_token >= 0.149  # 100 ms + 5 x 10 ms
    assert_matches_truth(out, emu, lag)  # when the emulator wrote them, plus a little
    assert (out.num_tokens_input, out.num_tokens_output) == (5, 6)
    assert out.annotations["finish_reason"] == "stop"
    truth = emu.state.truth.get(out.id)
    assert truth is not None and truth.completed
    assert out.input_payload["stream_options"] == {"include_usage": True}


async def test_non_stream(emulator):
    emu = await emulator("openai", ttft_ms=50, itl_ms=10, output_tokens=5)
    async with LoopLag() as lag:
        out = await call(emu.url + "/v1", stream=False)
    assert out.ok, out.error
    assert out.time_to_first_token is None
    assert out.time_to_last_token >= 0.089  # 50 ms + 4 x 10 ms
    assert_matches_truth(out, emu, lag)
    assert out.response_text == full_text(5)
    assert (out.num_tokens_input, out.num_tokens_output) == (5, 5)
    assert emu.state.truth.get(out.id) is not None
    assert "stream_options" not in out.input_payload and out.input_payload["stream"] is False


@pytest.mark.parametrize("stream", [True, False])
async def test_cached_and_reasoning_tokens(emulator, stream):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=4, cached_tokens=3, reasoning_tokens=7)
    out = await call(emu.url + "/v1", stream=stream)
    assert out.ok, out.error
    assert out.num_tokens_input_cached == 3
    assert out.num_tokens_output_reasoning == 7
    assert out.num_tokens_output == 4 + 7  # completion tokens include reasoning, as the API reports


@pytest.mark.parametrize("stream", [True, False])
async def test_max_tokens_cut_is_a_success_with_length_reason(emulator, stream):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=20)
    out = await call(emu.url + "/v1", stream=stream, max_tokens=3)
    assert out.ok, out.error
    assert out.response_text == full_text(3)
    assert out.annotations["finish_reason"] == "length"


async def test_http_error_message_is_trimmed(canned):
    url = await canned(
        "/v1/chat/completions", [b"<html>" + b"x" * 5000 + b"</html>"], status=503, content_type="text/html"
    )
    out = await call(url)
    assert out.error_type == "http_503"
    assert len(out.error) < 350


def _chunk(delta: dict | None = None, finish: str | None = None, usage: dict | None = None) -> bytes:
    import orjson

    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    body: dict = {"id": "chatcmpl-canned", "object": "chat.completion.chunk", "choices": choices}
    if usage is not None:
        body["usage"] = usage
    return b"data: " + orjson.dumps(body) + b"\n\n"


async def test_role_chunk_skipped_parts_content_and_no_usage(canned):
    """llama.cpp-like: no usage chunk (the output count is the streamed content chunks, the
    prompt is left to the tokenizer), content as parts, keep-alive comments and unknown
    fields ignored."""
    url = await canned(
        "/v1/chat/completions",
        [
            b": keep-alive\n\n",
            _chunk({"role": "assistant", "content": ""}),
            _chunk({"content": [{"type": "text", "text": "Hello"}]}),
            _chunk({"content": " world"}),
            _chunk({}, finish="stop"),
            b"data: [DONE]\n\n",
        ],
    )
    out = await call(url)
    assert out.ok, out.error
    assert out.response_text == "Hello world"
    assert out.id == "chatcmpl-canned"
    assert out.num_tokens_input is None
    assert (out.num_tokens_output, out.num_tokens_output_source) == (2, "stream")
    assert out.time_to_first_token is not None


async def test_stream_without_done_or_finish_reason_is_incomplete(canned):
    url = await canned("/v1/chat/completions", [_chunk({"content": "Hel"}), _chunk({"content": "lo"})])
    out = await call(url)
    assert out.error_type == "incomplete_stream"
    assert out.response_text == "Hello"


async def test_stream_with_finish_reason_but_no_done_is_complete(canned):
    url = await canned("/v1/chat/completions", [_chunk({"content": "Hi"}), _chunk({}, finish="stop")])
    out = await call(url)
    assert out.ok, out.error
    assert out.response_text == "Hi"


def test_prepare_payload_adds_model_stream_flags_and_extra_body_without_mutating():
    endpoint = OpenAIChatEndpoint(model_id="m", base_url="http://127.0.0.1:1/v1", extra_body={"temperature": 0})
    payload = {"messages": [], "model": "other", "stream_options": {"continuous_usage_stats": True}}
    body = endpoint.prepare_payload(payload)
    assert body["model"] == "m" and body["stream"] is True and body["temperature"] == 0
    assert body["stream_options"] == {"continuous_usage_stats": True, "include_usage": True}
    assert payload == {"messages": [], "model": "other", "stream_options": {"continuous_usage_stats": True}}


def test_create_payload_and_registry():
    assert OpenAIChatEndpoint.create_payload("hi", max_tokens=5, temperature=0.2) == {
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0.2,
    }
    assert "max_tokens" not in OpenAIChatEndpoint.create_payload("hi")
    endpoint = create_endpoint("openai-chat", model_id="m", base_url="http://127.0.0.1:1/v1", stream=False)
    assert isinstance(endpoint, OpenAIChatEndpoint)
    assert endpoint.url == "http://127.0.0.1:1/v1/chat/completions"


async def test_timeout_mid_stream_keeps_partial_text_and_the_pool_recovers(emulator):
    """A request cut by the per-request timeout keeps what arrived; its half-read connection
    is dropped (not handed to the next request) and the next request succeeds."""
    emu = await emulator("openai", ttft_ms=10, itl_ms=30, output_tokens=10)
    async with OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1") as endpoint:
        cut = await endpoint.call(OpenAIChatEndpoint.create_payload(PROMPT), timeout=0.1)
        assert cut.error_type == "timeout"
        assert cut.time_to_first_token is not None and cut.time_to_first_token >= 0.009
        truth = emu.state.truth.get(cut.id)
        assert truth is not None and truth.first_token_ms is not None
        assert cut.time_to_first_token * 1000 >= truth.first_token_ms
        assert cut.response_text is not None and cut.response_text.startswith("tok0 tok1")
        assert cut.response_text != full_text(10)
        after = await endpoint.call(OpenAIChatEndpoint.create_payload(PROMPT), timeout=5)
    assert after.ok, after.error
    assert after.response_text == full_text(10)
