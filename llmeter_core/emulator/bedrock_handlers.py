"""Bedrock runtime emulation on botocore's paths: Converse, ConverseStream, InvokeModel and
InvokeModelWithResponseStream.

Streams are ``application/vnd.amazon.eventstream`` messages (both CRCs), written as their
tokens come due. ConverseStream sends messageStart with the first token, one
contentBlockDelta per token, then contentBlockStop, messageStop and metadata (usage with
``cacheReadInputTokens``, ``metrics.latencyMs``). InvokeModel bodies follow the model family
(``bedrock_models``); its stream sends ``chunk`` events ``{"bytes": base64(provider JSON)}``
and puts ``amazon-bedrock-invocationMetrics`` in the last. A disconnect fault mid-stream is a
``modelStreamErrorException`` message (boto3 raises EventStreamError) or, with
``disconnect_mode="drop"``, a dropped connection. As on Bedrock, Converse ``inputTokens``
(like the InvokeModel token-count headers and invocation metrics) excludes the tokens read from
and written to the prompt cache, reported apart in ``cacheReadInputTokens`` and
``cacheWriteInputTokens``.
"""

from __future__ import annotations

import base64
from typing import Callable

import orjson
from aiohttp import web

from llmeter_core.emulator.aws_wire import (
    EventEncoder,
    aws_error,
    aws_fault_response,
    elapsed_ms,
    eventstream_response,
    first_byte_ms,
    run_event_stream,
)
from llmeter_core.emulator.bedrock_models import family_for
from llmeter_core.emulator.pacing import client_may_leave, wait_for_whole_reply
from llmeter_core.emulator.prologue import Started, begin_request
from llmeter_core.emulator.state import EmulatorState, Served
from llmeter_core.emulator.tokens import full_text, token_piece
from llmeter_core.emulator.wire import content_words, int_or_none, json_response, messages_words

__all__ = ["add_bedrock_routes"]

_ENCODER = EventEncoder()
_STREAM_ERROR = {
    "message": "The model stream was interrupted (emulated).",
    "originalStatusCode": 500,
    "originalMessage": "emulated disconnect",
}


def _invalid_body(state: EmulatorState) -> web.Response:
    return aws_error(400, "ValidationException", "Malformed input request: not a JSON object.", state.new_id())


def _fault(state: EmulatorState, served: Served) -> web.Response | None:
    return aws_fault_response(state, served, "InternalServerException")


async def _begin(
    request: web.Request, api: str, stream: bool, read: Callable[[dict], tuple[int, int | None]], caches: bool = True
) -> Started:
    return await begin_request(
        request, api, read, stream=stream, caches=caches, invalid_body=_invalid_body, fault_response=_fault
    )


def _converse_read(body: dict) -> tuple[int, int | None]:
    config = body.get("inferenceConfig")
    cap = int_or_none(config.get("maxTokens")) if isinstance(config, dict) else None
    return messages_words(body.get("messages")) + content_words(body.get("system")), cap


def _converse_usage(served: Served) -> dict:
    truth = served.truth
    return {
        "inputTokens": truth.uncached_input_tokens,
        "outputTokens": truth.output_tokens,
        "totalTokens": truth.input_tokens + truth.output_tokens,
        "cacheReadInputTokens": truth.cached_tokens,
        "cacheWriteInputTokens": truth.cache_write_tokens,
    }


def _stop_reason(served: Served) -> str:
    return "max_tokens" if served.schedule.truncated else "end_turn"


async def converse(request: web.Request) -> web.StreamResponse:
    started = await _begin(request, "bedrock.converse", False, _converse_read)
    if started.response is not None:
        return started.response
    state, served = started.state, started.served
    assert served is not None
    if not await wait_for_whole_reply(request, served):
        return web.Response()
    reply = {
        "output": {"message": {"role": "assistant", "content": [{"text": full_text(served.schedule.n_tokens)}]}},
        "stopReason": _stop_reason(served),
        "usage": _converse_usage(served),
        "metrics": {"latencyMs": elapsed_ms(served)},
    }
    state.truth.finish(served.truth)
    return json_response(reply, headers={"x-amzn-RequestId": served.request_id})


async def converse_stream(request: web.Request) -> web.StreamResponse:
    started = await _begin(request, "bedrock.converse_stream", True, _converse_read)
    if started.response is not None:
        return started.response
    state, served = started.state, started.served
    assert served is not None
    event = _ENCODER.event
    delta = b'{"contentBlockIndex":0,"delta":{"text":"%s"}}'

    def end_events() -> list[bytes]:
        return [
            event("contentBlockStop", b'{"contentBlockIndex":0}'),
            event("messageStop", orjson.dumps({"stopReason": _stop_reason(served)})),
            event(
                "metadata",
                orjson.dumps({"usage": _converse_usage(served), "metrics": {"latencyMs": elapsed_ms(served)}}),
            ),
        ]

    return await run_event_stream(
        request,
        state,
        served,
        eventstream_response(served.request_id),
        start_events=lambda: [event("messageStart", b'{"role":"assistant"}')],
        token_event=lambda index: event("contentBlockDelta", delta % token_piece(index)),
        end_events=end_events,
        error_event=lambda: _ENCODER.exception("modelStreamErrorException", _STREAM_ERROR),
    )


def _invoke_headers(served: Served) -> dict[str, str]:
    truth = served.truth
    return {
        "x-amzn-RequestId": served.request_id,
        "X-Amzn-Bedrock-Input-Token-Count": str(truth.uncached_input_tokens),
        "X-Amzn-Bedrock-Output-Token-Count": str(truth.output_tokens),
        "X-Amzn-Bedrock-Cache-Read-Input-Token-Count": str(truth.cached_tokens),
        "X-Amzn-Bedrock-Cache-Write-Input-Token-Count": str(truth.cache_write_tokens),
        "X-Amzn-Bedrock-Invocation-Latency": str(elapsed_ms(served)),
    }


async def invoke(request: web.Request) -> web.StreamResponse:
    model_id = request.match_info["model_id"]
    family = family_for(model_id)
    started = await _begin(request, "bedrock.invoke", False, family.read, family.caches)
    if started.response is not None:
        return started.response
    state, served = started.state, started.served
    assert served is not None
    if not await wait_for_whole_reply(request, served):
        return web.Response()
    reply = family.reply(served, model_id, full_text(served.schedule.n_tokens))
    state.truth.finish(served.truth)
    return json_response(reply, headers=_invoke_headers(served))


def _chunk(provider_json: bytes) -> bytes:
    return _ENCODER.event("chunk", b'{"bytes":"' + base64.b64encode(provider_json) + b'"}')


async def invoke_stream(request: web.Request) -> web.StreamResponse:
    model_id = request.match_info["model_id"]
    family = family_for(model_id)
    started = await _begin(request, "bedrock.invoke_stream", True, family.read, family.caches)
    if started.response is not None:
        return started.response
    state, served = started.state, started.served
    assert served is not None
    template = family.token_template(served, model_id)

    def end_events() -> list[bytes]:
        chunks = family.stream_end(served, model_id)
        truth = served.truth
        chunks[-1] = {
            **chunks[-1],
            "amazon-bedrock-invocationMetrics": {
                "inputTokenCount": truth.uncached_input_tokens,
                "outputTokenCount": truth.output_tokens,
                "invocationLatency": elapsed_ms(served),
                "firstByteLatency": first_byte_ms(served),
                "cacheReadInputTokenCount": truth.cached_tokens,
                "cacheWriteInputTokenCount": truth.cache_write_tokens,
            },
        }
        return [_chunk(orjson.dumps(chunk)) for chunk in chunks]

    response = eventstream_response(served.request_id, {"X-Amzn-Bedrock-Content-Type": "application/json"})
    return await run_event_stream(
        request,
        state,
        served,
        response,
        start_events=lambda: [_chunk(orjson.dumps(chunk)) for chunk in family.stream_start(served, model_id)],
        token_event=lambda index: _chunk(template % token_piece(index)),
        end_events=end_events,
        error_event=lambda: _ENCODER.exception("modelStreamErrorException", _STREAM_ERROR),
    )


def add_bedrock_routes(app: web.Application) -> None:
    """Register the Bedrock runtime routes (model ids may hold ``:`` and encoded ``/``)."""
    app.router.add_post("/model/{model_id:.+}/converse", client_may_leave(converse))
    app.router.add_post("/model/{model_id:.+}/converse-stream", client_may_leave(converse_stream))
    app.router.add_post("/model/{model_id:.+}/invoke", client_may_leave(invoke))
    app.router.add_post("/model/{model_id:.+}/invoke-with-response-stream", client_may_leave(invoke_stream))
