"""BedrockConverse / BedrockConverseStream through real aiobotocore over HTTP: against the
Bedrock emulator (timings, usage, cached tokens, faults, request ids) and against canned
eventstreams for what the emulator does not send (reasoning deltas, unknown events)."""

from __future__ import annotations

import orjson
import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.bedrock_converse import BedrockConverse, BedrockConverseStream
from tests.timing import LoopLag

from .aws_support import assert_matches_truth, event, exception_event

PROMPT = "one two three four five six"  # 6 words = 6 emulated input tokens


def test_create_payload_is_a_converse_request():
    payload = BedrockConverseStream.create_payload(
        "hi", 64, system="be brief", temperature=0.2, additionalModelRequestFields={"top_k": 5}
    )
    assert payload == {
        "messages": [{"role": "user", "content": [{"text": "hi"}]}],
        "system": [{"text": "be brief"}],
        "inferenceConfig": {"maxTokens": 64, "temperature": 0.2},
        "additionalModelRequestFields": {"top_k": 5},
    }
    assert "inferenceConfig" not in BedrockConverse.create_payload("hi")


def test_prepare_payload_adds_model_without_mutating(aws_env):
    endpoint = BedrockConverse("my-model")
    payload = BedrockConverse.create_payload("hi", 5)
    prepared = endpoint.prepare_payload(payload)
    assert prepared["modelId"] == "my-model"
    assert "modelId" not in payload


async def test_stream_times_first_and_last_text_delta(emulator):
    emu = await emulator("bedrock", ttft_ms=60, itl_ms=15, output_tokens=5)
    async with BedrockConverseStream("m", endpoint_url=emu.url) as endpoint:
        async with LoopLag() as lag:
            out = await endpoint.call(endpoint.create_payload(PROMPT, 100), timeout=5)
    assert out.error is None, out.error
    assert out.response_text == full_text(5)
    # token i is due at 60 + 15 i ms: first at 60, last at 120
    assert out.time_to_first_token >= 0.060 and out.time_to_last_token >= 0.120
    assert_matches_truth(out, emu, lag)
    assert out.num_tokens_input == 6 and out.num_tokens_output == 5
    assert out.num_tokens_input_cached == 0
    assert out.annotations["stop_reason"] == "end_turn"
    assert 120 <= out.annotations["server_latency_ms"] <= out.time_to_last_token * 1000 + 1
    truth = emu.state.truth.get(out.id)
    assert truth is not None and truth.completed and truth.api == "bedrock.converse_stream"
    assert out.retries == 0
    assert out.input_prompt == PROMPT


async def test_non_stream_has_last_token_time_only(emulator):
    emu = await emulator("bedrock", ttft_ms=40, itl_ms=10, output_tokens=4)
    async with BedrockConverse("m", endpoint_url=emu.url) as endpoint:
        async with LoopLag() as lag:
            out = await endpoint.call(endpoint.create_payload(PROMPT, 3), timeout=5)
    assert out.error is None, out.error
    assert out.response_text == full_text(3)  # capped by maxTokens
    assert out.time_to_first_token is None
    assert out.time_to_last_token >= 0.060
    assert_matches_truth(out, emu, lag)
    assert out.num_tokens_output == 3
    assert out.annotations["stop_reason"] == "max_tokens"
    assert emu.state.truth.get(out.id).api == "bedrock.converse"


@pytest.mark.parametrize("cls", [BedrockConverse, BedrockConverseStream])
async def test_cached_input_tokens(emulator, cls):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=2, cached_tokens=4)
    async with cls("m", endpoint_url=emu.url) as endpoint:
        out = await endpoint.call(endpoint.create_payload(PROMPT), timeout=5)
    assert out.error is None, out.error
    assert out.num_tokens_input_cached == 4
    assert out.num_tokens_input == 6  # inputTokens (2, cache reads excluded) + 4 cached: the whole prompt


async def test_sdk_retries_are_counted_when_enabled(emulator):
    emu = await emulator("bedrock", rate_429=1.0)
    async with BedrockConverse("m", endpoint_url=emu.url, max_attempts=2) as endpoint:
        out = await endpoint.call(endpoint.create_payload(PROMPT), timeout=10)
    assert out.error_type == "ThrottlingException"
    assert out.retries == 1
    assert emu.stats()["requests"] == 2


async def test_timeout_mid_stream_is_a_timeout_with_partial_text(emulator):
    emu = await emulator("bedrock", ttft_ms=10, itl_ms=100, output_tokens=10)
    async with BedrockConverseStream("m", endpoint_url=emu.url) as endpoint:
        out = await endpoint.call(endpoint.create_payload(PROMPT), timeout=0.25)
    assert out.error_type == "timeout"
    assert out.response_text is not None and out.response_text.startswith("tok0 tok1")
    assert out.id is not None and emu.state.truth.get(out.id) is not None


async def test_invalid_payload_is_an_error_without_a_request(emulator):
    emu = await emulator("bedrock")
    async with BedrockConverse("m", endpoint_url=emu.url) as endpoint:
        out = await endpoint.call({"messages": "not a list"}, timeout=5)
    assert out.error_type == "ParamValidationError"
    assert emu.stats()["requests"] == 0


async def test_reasoning_deltas_are_tokens_not_text_and_unknown_events_are_skipped(canned_eventstream):
    messages = [
        event("messageStart", b'{"role":"assistant"}'),
        event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"reasoningContent":{"text":"hmm"}}}'),
        event("futureEventType", b'{"anything":1}'),
        event("contentBlockDelta", b'{"contentBlockIndex":1,"delta":{"text":"Hello"}}'),
        event("contentBlockDelta", b'{"contentBlockIndex":1,"delta":{"text":" world"}}'),
        event("messageStop", b'{"stopReason":"end_turn"}'),
        event(
            "metadata",
            orjson.dumps(
                {
                    "usage": {
                        "inputTokens": 7,
                        "outputTokens": 3,
                        "totalTokens": 10,
                        "cacheReadInputTokens": 5,
                        "cacheWriteInputTokens": 2,
                    },
                    "metrics": {"latencyMs": 42},
                }
            ),
        ),
    ]
    url = await canned_eventstream(messages, request_id="req-canned-7", delay=0.02)
    async with BedrockConverseStream("m", endpoint_url=url) as endpoint:
        out = await endpoint.call(endpoint.create_payload("hi"), timeout=5)
    assert out.error is None, out.error
    assert out.response_text == "Hello world"
    assert out.id == "req-canned-7"
    # The reasoning delta (2nd message, ~40 ms) is the first generated token but not text;
    # "Hello" (4th, ~80 ms) is the first content token.
    assert 0.035 <= out.time_to_first_token < out.time_to_first_content_token
    assert out.time_to_first_content_token >= 0.075
    # 3 tokens streamed (reasoning included): the span over 2 gaps, the longest of them ~40 ms
    span = out.time_to_last_token - out.time_to_first_token
    assert out.time_per_output_token == pytest.approx(span / 2)
    assert out.max_inter_token_latency >= 0.035
    assert (out.num_tokens_input, out.num_tokens_output, out.num_tokens_input_cached) == (7 + 5 + 2, 3, 5)
    assert out.annotations == {"stop_reason": "end_turn", "server_latency_ms": 42, "cache_write_input_tokens": 2}


async def test_throttling_exception_event_mid_stream(canned_eventstream):
    messages = [
        event("contentBlockDelta", b'{"contentBlockIndex":0,"delta":{"text":"par"}}'),
        exception_event("throttlingException", b'{"message":"slow down"}'),
    ]
    url = await canned_eventstream(messages)
    async with BedrockConverseStream("m", endpoint_url=url) as endpoint:
        out = await endpoint.call(endpoint.create_payload("hi"), timeout=5)
    assert out.error_type == "throttlingException"
    assert out.response_text == "par" and out.time_to_first_token is not None


async def test_created_from_spec_fields(emulator):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=2)
    endpoint = create_endpoint("bedrock-converse-stream", model_id="m", endpoint_url=emu.url, region="eu-west-1")
    async with endpoint:
        out = await endpoint.call(endpoint.create_payload("a b"), timeout=5)
        config = endpoint.to_config()
    assert out.response_text == full_text(2)
    assert config["type"] == "bedrock-converse-stream" and config["region"] == "eu-west-1"
