"""OpenAIResponsesEndpoint against the emulator (timings, usage, faults) and against canned
event streams (failed/cut responses, data-only servers, unknown events)."""

from __future__ import annotations

import orjson
import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.openai_responses import OpenAIResponsesEndpoint
from tests.timing import LoopLag

from .aws_support import assert_matches_truth

PROMPT = "one two three four five"


async def call(base_url: str, stream: bool = True, max_tokens: int = 100, **kwargs):
    async with OpenAIResponsesEndpoint(model_id="m", base_url=base_url, stream=stream, **kwargs) as endpoint:
        return await endpoint.call(OpenAIResponsesEndpoint.create_payload(PROMPT, max_tokens=max_tokens), timeout=10)


def event(name: str | None, data: dict) -> bytes:
    head = b"" if name is None else b"event: " + name.encode() + b"\n"
    return head + b"data: " + orjson.dumps({"type": name, **data} if name else data) + b"\n\n"


async def test_stream_timings_text_usage_and_id(emulator):
    emu = await emulator("openai", ttft_ms=100, itl_ms=10, output_tokens=6, cached_tokens=2, reasoning_tokens=3)
    async with LoopLag() as lag:
        out = await call(emu.url + "/v1")
    assert out.ok, out.error
    assert out.response_text == full_text(6)
    assert out.time_to_first_token >= 0.099 and out.time_to_last_token >= 0.149
    assert_matches_truth(out, emu, lag)  # when the emulator wrote them, plus a little
    assert (out.num_tokens_input, out.num_tokens_output) == (5, 6 + 3)
    assert (out.num_tokens_input_cached, out.num_tokens_output_reasoning) == (2, 3)
    assert out.annotations["finish_reason"] == "stop"
    assert emu.state.truth.get(out.id).completed
    assert out.input_payload == {"input": PROMPT, "max_output_tokens": 100, "model": "m", "stream": True}


async def test_non_stream(emulator):
    emu = await emulator("openai", ttft_ms=50, itl_ms=10, output_tokens=5, cached_tokens=1, reasoning_tokens=2)
    async with LoopLag() as lag:
        out = await call(emu.url + "/v1", stream=False)
    assert out.ok, out.error
    assert out.time_to_first_token is None
    assert out.time_to_last_token >= 0.089
    assert_matches_truth(out, emu, lag)
    assert out.response_text == full_text(5)
    assert (out.num_tokens_input, out.num_tokens_output) == (5, 5 + 2)
    assert (out.num_tokens_input_cached, out.num_tokens_output_reasoning) == (1, 2)
    assert emu.state.truth.get(out.id) is not None


@pytest.mark.parametrize("stream", [True, False])
async def test_cut_by_max_output_tokens_is_a_success(emulator, stream):
    """The API ends such a response with status "incomplete"; like finish_reason "length" in
    chat it is a normal end, not a failure."""
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=20)
    out = await call(emu.url + "/v1", stream=stream, max_tokens=4)
    assert out.ok, out.error
    assert out.response_text == full_text(4)
    assert out.annotations["finish_reason"] == "length"


async def test_response_failed_event(canned):
    url = await canned(
        "/v1/responses",
        [
            event("response.output_text.delta", {"delta": "Hi"}),
            event(
                "response.failed",
                {
                    "response": {
                        "id": "resp_1",
                        "status": "failed",
                        "error": {"code": "server_error", "message": "boom"},
                    }
                },
            ),
        ],
    )
    out = await call(url)
    assert out.error_type == "response_failed"
    assert "boom" in out.error and out.response_text == "Hi" and out.id == "resp_1"


async def test_incomplete_for_another_reason_is_an_error(canned):
    url = await canned(
        "/v1/responses",
        [
            event("response.output_text.delta", {"delta": "Hi"}),
            event(
                "response.incomplete",
                {
                    "response": {
                        "id": "resp_2",
                        "status": "incomplete",
                        "incomplete_details": {"reason": "content_filter"},
                    }
                },
            ),
        ],
    )
    out = await call(url)
    assert out.error_type == "response_incomplete"
    assert "content_filter" in out.error


async def test_stream_without_final_event_is_incomplete(canned):
    url = await canned(
        "/v1/responses",
        [event("response.output_text.delta", {"delta": "Hel"}), event("response.output_text.delta", {"delta": "lo"})],
    )
    out = await call(url)
    assert out.error_type == "incomplete_stream"
    assert out.response_text == "Hello"


async def test_data_only_stream_and_unknown_events(canned):
    """A server without ``event:`` lines (type only inside the data) and events this
    endpoint does not know (including one whose data is not even JSON) still work."""
    completed = {"id": "resp_3", "status": "completed", "usage": {"input_tokens": 4, "output_tokens": 2}}
    url = await canned(
        "/v1/responses",
        [
            b"event: response.something_new\ndata: not json at all\n\n",
            event(None, {"type": "response.output_text.delta", "delta": "Hi"}),
            event(None, {"type": "response.reasoning_summary_text.delta", "delta": "thinking"}),
            event(None, {"type": "response.output_text.delta", "delta": " there"}),
            event(None, {"type": "response.completed", "response": completed}),
        ],
    )
    out = await call(url)
    assert out.ok, out.error
    assert out.response_text == "Hi there"
    assert (out.num_tokens_input, out.num_tokens_output, out.id) == (4, 2, "resp_3")


def test_create_payload_prepare_and_registry():
    assert OpenAIResponsesEndpoint.create_payload("hi", max_tokens=7, instructions="be brief") == {
        "input": "hi",
        "max_output_tokens": 7,
        "instructions": "be brief",
    }
    endpoint = create_endpoint(
        "openai-responses", model_id="m", base_url="http://127.0.0.1:1/v1/", stream=False, extra_body={"store": False}
    )
    assert isinstance(endpoint, OpenAIResponsesEndpoint)
    assert endpoint.url == "http://127.0.0.1:1/v1/responses"
    payload = {"input": "hi", "model": "x"}
    assert endpoint.prepare_payload(payload) == {"input": "hi", "model": "m", "stream": False, "store": False}
    assert payload == {"input": "hi", "model": "x"}
