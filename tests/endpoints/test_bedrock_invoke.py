"""BedrockInvokeModel / BedrockInvokeModelStream against the Bedrock emulator, one model family
at a time (the emulator picks the body format from the model id, as Bedrock does)."""

from __future__ import annotations

import base64

import orjson
import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.bedrock_invoke import BedrockInvokeModel, BedrockInvokeModelStream
from llmeter_core.errors import ConfigError
from tests.timing import LoopLag

from .aws_support import assert_matches_truth, event

PROMPT = "one two three four five six"
# model id -> (reports cached tokens?, input tokens the body reports when 2 of 6 are cached)
FAMILIES = {
    "anthropic.claude-3-5-haiku-20241022-v1:0": True,
    "us.meta.llama3-1-8b-instruct-v1:0": False,
    "amazon.nova-lite-v1:0": True,
    "amazon.titan-text-express-v1": False,
    "openai.gpt-oss-20b-1:0": True,
}


@pytest.mark.parametrize("model_id", FAMILIES)
@pytest.mark.parametrize("cls", [BedrockInvokeModel, BedrockInvokeModelStream])
async def test_each_family_text_tokens_and_cache(emulator, cls, model_id):
    emu = await emulator("bedrock", ttft_ms=30, itl_ms=5, output_tokens=4, cached_tokens=2)
    async with cls(model_id, endpoint_url=emu.url) as endpoint:
        async with LoopLag() as lag:
            out = await endpoint.call(endpoint.create_payload(PROMPT, 50, model_id=model_id), timeout=5)
    assert out.error is None, out.error
    assert out.response_text == full_text(4)
    assert out.num_tokens_output == 4
    caches = FAMILIES[model_id]
    # Bedrock's own counts (headers / invocation metrics) exclude cache reads from the input;
    # num_tokens_input adds them back: the whole prompt, as on every endpoint
    assert out.num_tokens_input == 6
    assert out.num_tokens_input_cached == (2 if caches else 0)
    assert out.annotations["server_latency_ms"] >= 45
    assert out.time_to_last_token >= 0.045
    if cls.stream:
        assert out.time_to_first_token >= 0.030
        assert out.annotations["server_first_byte_latency_ms"] >= 30
    else:
        assert out.time_to_first_token is None
    assert_matches_truth(out, emu, lag)
    truth = emu.state.truth.get(out.id)
    assert truth is not None and truth.api == ("bedrock.invoke_stream" if cls.stream else "bedrock.invoke")
    assert truth.output_tokens == 4  # the token cap in the family's own body was read


async def test_input_tokens_read_before_a_mid_stream_cut_are_kept(emulator):
    """Anthropic's stream gives the input count in message_start: a stream cut later keeps it
    (the cut itself is the contract of every stream, tests/endpoints/test_contract.py)."""
    emu = await emulator("bedrock", ttft_ms=20, itl_ms=5, output_tokens=10, rate_disconnect=1.0)
    async with BedrockInvokeModelStream("anthropic.claude-x", endpoint_url=emu.url) as endpoint:
        out = await endpoint.call(endpoint.create_payload(PROMPT), timeout=5)
    assert out.error_type == "modelStreamErrorException"
    assert out.num_tokens_input == 6  # from message_start, read before the cut


async def test_payload_body_is_sent_as_the_models_json(emulator):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=20)
    async with BedrockInvokeModel("amazon.titan-text-lite-v1", endpoint_url=emu.url) as endpoint:
        payload = {"inputText": "a b c", "textGenerationConfig": {"maxTokenCount": 3}}
        out = await endpoint.call(payload, timeout=5)
    assert out.response_text == full_text(3)
    assert out.input_payload == payload and out.input_prompt == "a b c"


def test_create_payload_by_family():
    assert BedrockInvokeModel.create_payload("hi", 9)["anthropic_version"] == "bedrock-2023-05-31"
    assert BedrockInvokeModel.create_payload("hi", 9, model_id="meta.llama3") == {"prompt": "hi", "max_gen_len": 9}
    assert BedrockInvokeModel.create_payload("hi", 9, output_format="titan", temperature=0) == {
        "inputText": "hi",
        "textGenerationConfig": {"maxTokenCount": 9},
        "temperature": 0,
    }
    assert BedrockInvokeModelStream.create_payload("hi", output_format="openai")["stream"] is True
    with pytest.raises(ConfigError):
        BedrockInvokeModel.create_payload("hi", output_format="nope")


def test_format_from_model_id_arn_and_profile(aws_env):
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/eu.amazon.nova-pro-v1:0"
    assert BedrockInvokeModel(arn).output_format == "nova"
    assert BedrockInvokeModel("apac.anthropic.claude-x").output_format == "anthropic"
    assert BedrockInvokeModel("mistral.mistral-large", output_format="openai").output_format == "openai"
    with pytest.raises(ConfigError) as info:
        BedrockInvokeModel("mistral.mistral-large")
    assert info.value.field == "endpoint.output_format"
    with pytest.raises(ConfigError) as info:
        create_endpoint("bedrock-invoke", model_id="anthropic.x", text_path="content[")
    assert info.value.field == "endpoint.text_path"


async def test_path_overrides_apply_to_stream_chunks(canned_eventstream):
    chunks = [{"out": {"piece": "Hel"}}, {"out": {"piece": "lo"}}, {"done": True, "n": {"in": 3, "out": 2}}]
    messages = [event("chunk", orjson.dumps({"bytes": base64.b64encode(orjson.dumps(c)).decode()})) for c in chunks]
    url = await canned_eventstream(messages, request_id="req-1")
    endpoint = create_endpoint(
        "bedrock-invoke-stream",
        model_id="custom.model",
        endpoint_url=url,
        output_format="openai",
        text_path="out.piece",
        input_tokens_path="n.in",
        output_tokens_path="n.out",
    )
    async with endpoint:
        out = await endpoint.call({"anything": 1}, timeout=5)
        config = endpoint.to_config()
    assert out.error is None, out.error
    assert (out.response_text, out.num_tokens_input, out.num_tokens_output, out.id) == ("Hello", 3, 2, "req-1")
    assert config["text_path"] == "out.piece" and config["output_format"] == "openai"
