"""SageMakerEndpoint / SageMakerStreamEndpoint against the SageMaker emulator, whose streams cut
the container's SSE output into PayloadParts at odd offsets (37, 61, 23, 89, 11 bytes)."""

from __future__ import annotations

import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.sagemaker import SageMakerEndpoint, SageMakerStreamEndpoint
from llmeter_core.errors import ConfigError
from tests.timing import LoopLag

from .aws_support import assert_matches_truth, event

PROMPT = "one two three four five six"


@pytest.mark.parametrize("output_format", ["tgi", "openai"])
async def test_stream_reassembles_split_parts(emulator, output_format):
    # 40 tokens of SSE: many lines and JSON objects straddle PayloadPart boundaries
    emu = await emulator("sagemaker", ttft_ms=30, itl_ms=2, output_tokens=40, cached_tokens=2)
    endpoint = SageMakerStreamEndpoint("my-endpoint", endpoint_url=emu.url, output_format=output_format)
    async with endpoint:
        async with LoopLag() as lag:
            out = await endpoint.call(endpoint.create_payload(PROMPT, 100, output_format=output_format), timeout=5)
    assert out.error is None, out.error
    assert out.response_text == full_text(40)
    assert out.num_tokens_output == 40 and out.num_tokens_input == 6
    assert out.num_tokens_input_cached == (2 if output_format == "openai" else None)
    assert out.time_to_first_token >= 0.030 and out.time_to_last_token >= 0.030 + 0.078
    assert_matches_truth(out, emu, lag)
    assert "skipped_stream_lines" not in out.annotations
    assert emu.state.truth.get(out.id).api == "sagemaker.invoke_stream"


@pytest.mark.parametrize("output_format", ["tgi", "openai"])
async def test_non_stream(emulator, output_format):
    emu = await emulator("sagemaker", ttft_ms=20, itl_ms=5, output_tokens=8)
    endpoint = SageMakerEndpoint("my-endpoint", endpoint_url=emu.url, output_format=output_format)
    async with endpoint:
        async with LoopLag() as lag:
            out = await endpoint.call(endpoint.create_payload(PROMPT, 5, output_format=output_format), timeout=5)
    assert out.error is None, out.error
    assert out.response_text == full_text(5)
    assert out.num_tokens_output == 5
    assert out.time_to_first_token is None and out.time_to_last_token >= 0.040
    assert_matches_truth(out, emu, lag)
    assert out.retries == 0 and emu.state.truth.get(out.id).api == "sagemaker.invoke"


async def test_model_id_from_a_spec_is_the_endpoint_name(emulator):
    emu = await emulator("sagemaker", ttft_ms=0, itl_ms=0, output_tokens=2)
    endpoint = create_endpoint("sagemaker-stream", model_id="spec-endpoint", endpoint_url=emu.url)
    assert endpoint.endpoint_name == "spec-endpoint"
    async with endpoint:
        out = await endpoint.call(endpoint.create_payload("a"), timeout=5)
    assert out.response_text == full_text(2)
    with pytest.raises(ConfigError) as info:
        create_endpoint("sagemaker")
    assert info.value.field == "endpoint.endpoint_name"


async def test_routing_options_are_sent_and_recorded(canned_eventstream):
    messages = [
        event("PayloadPart", b'{"token": {"text": "ok", "spec', "application/octet-stream"),
        event("PayloadPart", b'ial": false}}\n', "application/octet-stream"),
    ]
    url = await canned_eventstream(messages, request_id="sm-1")
    endpoint = SageMakerStreamEndpoint("ep", endpoint_url=url, inference_component="ic-1", target_variant="v2")
    params = endpoint._params({"inputs": "x"})
    assert params["InferenceComponentName"] == "ic-1" and params["TargetVariant"] == "v2"
    async with endpoint:
        out = await endpoint.call({"inputs": "x"}, timeout=5)
    assert (out.response_text, out.id) == ("ok", "sm-1")
    assert endpoint.to_config()["inference_component"] == "ic-1"


async def test_stream_ending_inside_a_json_value_is_an_error_with_partial_text(canned_eventstream):
    messages = [
        event("PayloadPart", b'{"token": {"text": "a", "special": false}}\n{"token": {"te', "application/octet-stream")
    ]
    url = await canned_eventstream(messages)
    async with SageMakerStreamEndpoint("ep", endpoint_url=url) as endpoint:
        out = await endpoint.call({"inputs": "x"}, timeout=5)
    assert out.error_type == "ValueError" and out.response_text == "a"


def test_create_payload():
    assert SageMakerEndpoint.create_payload("hi", 9) == {
        "inputs": "hi",
        "parameters": {"details": True, "max_new_tokens": 9},
    }
    assert SageMakerStreamEndpoint.create_payload("hi", 9)["stream"] is True
    body = SageMakerStreamEndpoint.create_payload("hi", 9, output_format="openai")
    assert body["stream_options"] == {"include_usage": True} and body["max_tokens"] == 9
