"""The JMESPath presets on hand-written bodies of each model family (no network)."""

from __future__ import annotations

import pytest

from llmeter_core.clock import now_ns
from llmeter_core.endpoints.response_formats import (
    PRESETS,
    ChunkTally,
    base_model_id,
    default_format_name,
    fill_from_body,
    resolve_format,
)
from llmeter_core.errors import ConfigError
from llmeter_core.response import InvocationResponse

# preset -> (complete body, (text, input, output, cached)). The input is the whole prompt: the
# Anthropic and Nova bodies count cache reads and writes apart, so 12 + 100 + 7 and 5 + 64 + 3.
BODIES = {
    "anthropic": (
        {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "hmm"},
                {"type": "text", "text": "Hi "},
                {"type": "text", "text": "there"},
            ],
            "usage": {
                "input_tokens": 12,
                "output_tokens": 3,
                "cache_read_input_tokens": 100,
                "cache_creation_input_tokens": 7,
            },
        },
        ("Hi there", 119, 3, 100),
    ),
    "llama": (
        {"generation": "Hi there", "prompt_token_count": 9, "generation_token_count": 2, "stop_reason": "stop"},
        ("Hi there", 9, 2, None),
    ),
    "nova": (
        {
            "output": {"message": {"role": "assistant", "content": [{"text": "Hi"}, {"text": " there"}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": 5,
                "outputTokens": 2,
                "totalTokens": 7,
                "cacheReadInputTokenCount": 64,
                "cacheWriteInputTokenCount": 3,
            },
        },
        ("Hi there", 72, 2, 64),
    ),
    "titan": (
        {
            "inputTextTokenCount": 4,
            "results": [
                {"tokenCount": 2, "outputText": "Hi", "completionReason": "FINISH"},
                {"tokenCount": 3, "outputText": " there"},
            ],
        },
        ("Hi there", 4, 5, None),
    ),
    "tgi": (
        [
            {
                "generated_text": "Hi there",
                "details": {"finish_reason": "length", "generated_tokens": 2, "input_length": 8, "prefill": []},
            }
        ],
        ("Hi there", 8, 2, None),
    ),
    "openai": (
        {
            "id": "c1",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there"}}],
            "usage": {"prompt_tokens": 6, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}},
        },
        ("Hi there", 6, 2, 4),
    ),
}

# preset -> (stream chunks in order, (text, input, output, cached))
STREAMS = {
    "anthropic": (
        [
            {
                "type": "message_start",
                "message": {
                    "id": "m",
                    "usage": {
                        "input_tokens": 12,
                        "output_tokens": 1,
                        "cache_read_input_tokens": 100,
                        "cache_creation_input_tokens": 7,
                    },
                },
            },
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Hi"}},
            {"type": "ping"},
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": " there"}},
            {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 3}},
            {"type": "message_stop"},
        ],
        ("Hi there", 119, 3, 100),
    ),
    "llama": (
        [
            {"generation": "Hi", "prompt_token_count": 9, "generation_token_count": 1, "stop_reason": None},
            {"generation": " there", "prompt_token_count": None, "generation_token_count": 2, "stop_reason": "stop"},
        ],
        ("Hi there", 9, 2, None),
    ),
    "nova": (
        [
            {"messageStart": {"role": "assistant"}},
            {"contentBlockDelta": {"delta": {"text": "Hi"}, "contentBlockIndex": 0}},
            {"contentBlockDelta": {"delta": {"text": " there"}, "contentBlockIndex": 0}},
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": "end_turn"}},
            {"metadata": {"usage": {"inputTokens": 5, "outputTokens": 2, "cacheReadInputTokenCount": 64}}},
        ],
        ("Hi there", 69, 2, 64),  # no cache-write count: it adds 0
    ),
    "titan": (
        [
            {"outputText": "Hi", "index": 0, "totalOutputTextTokenCount": None, "inputTextTokenCount": 4},
            {"outputText": " there", "index": 0, "totalOutputTextTokenCount": 2, "completionReason": "FINISH"},
        ],
        ("Hi there", 4, 2, None),
    ),
    "tgi": (
        [
            {"index": 0, "token": {"id": 1, "text": "Hi", "special": False}, "generated_text": None},
            {"index": 1, "token": {"id": 2, "text": " there", "special": False}, "generated_text": None},
            {
                "index": 2,
                "token": {"id": 0, "text": "</s>", "special": True},
                "generated_text": "Hi there",
                "details": {"finish_reason": "eos_token", "generated_tokens": 3, "input_length": 8},
            },
        ],
        ("Hi there", 8, 3, None),
    ),
    "openai": (
        [
            {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
            {"choices": [{"index": 0, "delta": {"content": "Hi"}}]},
            {"choices": [{"index": 0, "delta": {"content": " there"}, "finish_reason": "stop"}]},
            {
                "choices": [],
                "usage": {"prompt_tokens": 6, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}},
            },
        ],
        ("Hi there", 6, 2, 4),
    ),
}


def test_every_preset_is_covered():
    assert set(BODIES) == set(STREAMS) == set(PRESETS)


@pytest.mark.parametrize("name", BODIES)
def test_complete_bodies(name):
    body, expected = BODIES[name]
    _, paths = resolve_format(name, stream=False)
    out = InvocationResponse()
    fill_from_body(paths, body, out)
    assert (out.response_text, out.num_tokens_input, out.num_tokens_output, out.num_tokens_input_cached) == expected


@pytest.mark.parametrize("name", STREAMS)
def test_stream_chunks(name):
    chunks, expected = STREAMS[name]
    _, paths = resolve_format(name, stream=True)
    out = InvocationResponse()
    tally = ChunkTally(paths, now_ns(), out)
    for chunk in chunks:
        tally.add(chunk)
    tally.finish()
    assert (out.response_text, out.num_tokens_input, out.num_tokens_output, out.num_tokens_input_cached) == expected
    assert 0 <= out.time_to_first_token <= out.time_to_last_token


def test_stream_first_token_time_skips_chunks_without_text():
    _, paths = resolve_format("openai", stream=True)
    out = InvocationResponse()
    start = now_ns()
    tally = ChunkTally(paths, start - 50_000_000, out)  # "started" 50 ms ago
    tally.add({"choices": [{"delta": {"role": "assistant", "content": ""}}]})
    tally.finish()
    assert out.time_to_first_token is None
    tally.add({"choices": [{"delta": {"content": "x"}}]})
    after = now_ns()
    tally.finish()
    assert 0.050 <= out.time_to_first_token <= (after - start) / 1e9 + 0.050


def test_partial_stream_keeps_what_was_read():
    chunks, _ = STREAMS["anthropic"]
    _, paths = resolve_format("anthropic", stream=True)
    out = InvocationResponse()
    tally = ChunkTally(paths, now_ns(), out)
    try:
        for chunk in chunks[:3]:
            tally.add(chunk)
        raise ConnectionError("cut")
    except ConnectionError:
        pass
    finally:
        tally.finish()
    assert (out.response_text, out.num_tokens_input, out.num_tokens_output) == ("Hi", 119, None)


def test_overrides_replace_single_paths():
    _, paths = resolve_format("openai", stream=False, text_path="answer.text", output_tokens_path="meta.n")
    out = InvocationResponse()
    fill_from_body(paths, {"answer": {"text": "yes"}, "meta": {"n": 1.0}, "usage": {"prompt_tokens": 2}}, out)
    assert (out.response_text, out.num_tokens_input, out.num_tokens_output) == ("yes", 2, 1)


def test_odd_values_are_ignored_not_raised():
    _, paths = resolve_format("titan", stream=False)
    out = InvocationResponse()
    fill_from_body(paths, {"results": [{"tokenCount": "many", "outputText": 5}], "inputTextTokenCount": True}, out)
    assert (out.response_text, out.num_tokens_input, out.num_tokens_output) == (None, None, None)
    fill_from_body(paths, ["not", "a", "dict"], out)
    assert out.response_text is None


def test_bad_expressions_and_names_are_config_errors():
    with pytest.raises(ConfigError) as info:
        resolve_format("openai", stream=True, output_tokens_path="usage.[")
    assert info.value.field == "endpoint.output_tokens_path"
    with pytest.raises(ConfigError) as info:
        resolve_format("cohere", stream=False)
    assert info.value.field == "endpoint.output_format"


@pytest.mark.parametrize(
    "model_id, name",
    [
        ("anthropic.claude-3-5-sonnet-20240620-v1:0", "anthropic"),
        ("us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic"),
        ("global.anthropic.claude-sonnet-4-v1:0", "anthropic"),
        ("meta.llama3-70b-instruct-v1:0", "llama"),
        ("us-gov.meta.llama3-8b-instruct-v1:0", "llama"),
        ("amazon.nova-micro-v1:0", "nova"),
        ("arn:aws:bedrock:us-east-1::foundation-model/amazon.titan-text-express-v1", "titan"),
        ("openai.gpt-oss-120b-1:0", "openai"),
        ("cohere.command-r-v1:0", None),
    ],
)
def test_default_format_from_model_id(model_id, name):
    assert default_format_name(model_id) == name


def test_base_model_id():
    assert base_model_id("eu.amazon.nova-pro-v1:0") == "amazon.nova-pro-v1:0"
    assert base_model_id("amazon.nova-pro-v1:0") == "amazon.nova-pro-v1:0"


@pytest.mark.parametrize("name", PRESETS)
def test_request_builders_put_the_prompt_and_cap_in(name):
    body = PRESETS[name].request("hello there", 7, stream=False)
    flat = str(body)
    assert "hello there" in flat and "7" in flat
