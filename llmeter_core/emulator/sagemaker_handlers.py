"""SageMaker runtime emulation: ``/endpoints/{name}/invocations`` and
``/endpoints/{name}/invocations-response-stream``.

Bodies are TGI's by default (``{"inputs": .., "parameters": {"max_new_tokens": ..}}`` ->
``[{"generated_text": ..}]``) and OpenAI chat completions when the body has ``messages``
(the Messages API of TGI, vLLM and LMI containers). Streams are ``PayloadPart`` eventstream
messages whose raw bytes are the container's SSE output cut at arbitrary offsets (sizes
cycling through ``_PART_SIZES``), so lines and JSON objects are split across events as real
endpoints do; every byte of a token is still sent when the token is due. A disconnect fault
mid-stream is a ``ModelStreamError`` exception message (or a dropped connection).
"""

from __future__ import annotations

from itertools import cycle

import orjson
from aiohttp import web

from llmeter_core.emulator.aws_wire import (
    EventEncoder,
    aws_error,
    aws_fault_response,
    eventstream_response,
    run_event_stream,
)
from llmeter_core.emulator.bedrock_models import FAMILIES
from llmeter_core.emulator.pacing import client_may_leave, wait_for_whole_reply
from llmeter_core.emulator.prologue import Started, begin_request
from llmeter_core.emulator.state import EmulatorState, Served, count_words
from llmeter_core.emulator.tokens import full_text, token_piece
from llmeter_core.emulator.wire import int_or_none, json_response

__all__ = ["add_sagemaker_routes", "PayloadSplitter"]

_ENCODER = EventEncoder()
_PART_SIZES = (37, 61, 23, 89, 11)
_OPENAI = FAMILIES["openai"]
_VARIANT = {"x-Amzn-Invoked-Production-Variant": "AllTraffic"}
_STREAM_ERROR = {"Message": "The model stream was interrupted (emulated).", "ErrorCode": "ModelStreamError"}


class PayloadSplitter:
    """Frames a stream's bytes as PayloadPart events of cycling sizes (state kept across writes)."""

    __slots__ = ("_sizes", "_next")

    def __init__(self) -> None:
        self._sizes = cycle(_PART_SIZES)
        self._next = next(self._sizes)

    def __call__(self, data: bytes) -> bytes:
        parts = []
        offset = 0
        while offset < len(data):
            size = self._next
            part = data[offset : offset + size]
            offset += len(part)
            if len(part) == size:
                self._next = next(self._sizes)
            else:  # the rest of this size starts the next write's first part
                self._next = size - len(part)
            parts.append(_ENCODER.event("PayloadPart", part, "application/octet-stream"))
        return b"".join(parts)


def _is_chat(body: dict) -> bool:
    """An OpenAI chat body (the Messages API of TGI, vLLM and LMI containers), else TGI's."""
    return "messages" in body


def _read(body: dict) -> tuple[int, int | None]:
    """(prompt words, token cap)."""
    if _is_chat(body):
        return _OPENAI.read(body)
    inputs = body.get("inputs")
    words = (
        count_words(inputs)
        if isinstance(inputs, str)
        else sum(count_words(i) for i in inputs or () if isinstance(i, str))
    )
    parameters = body.get("parameters")
    cap = int_or_none(parameters.get("max_new_tokens")) if isinstance(parameters, dict) else None
    return words, cap


def _invalid_body(state: EmulatorState) -> web.Response:
    return aws_error(400, "ValidationError", "Received client error (400): body is not JSON.", state.new_id())


def _fault(state: EmulatorState, served: Served) -> web.Response | None:
    return aws_fault_response(state, served, "InternalFailure")


async def _begin(request: web.Request, api: str, stream: bool) -> Started:
    return await begin_request(request, api, _read, stream=stream, invalid_body=_invalid_body, fault_response=_fault)


def _tgi_details(served: Served) -> dict:
    return {
        "finish_reason": "length" if served.schedule.truncated else "eos_token",
        "generated_tokens": served.truth.output_tokens,
        "seed": None,
        "input_length": served.truth.input_tokens,
    }


async def invocations(request: web.Request) -> web.StreamResponse:
    started = await _begin(request, "sagemaker.invoke", False)
    if started.response is not None:
        return started.response
    state, served, body = started.state, started.served, started.body
    assert served is not None
    if not await wait_for_whole_reply(request, served):
        return web.Response()
    text = full_text(served.schedule.n_tokens)
    reply: dict | list[dict]
    if _is_chat(body):
        reply = _OPENAI.reply(served, body.get("model") or state.config.model, text)
    else:
        parameters = body.get("parameters")
        item: dict = {"generated_text": text}
        if isinstance(parameters, dict) and parameters.get("details"):
            item["details"] = {**_tgi_details(served), "prefill": [], "tokens": []}
        reply = [item]
    state.truth.finish(served.truth)
    return json_response(reply, headers={"x-amzn-RequestId": served.request_id, **_VARIANT})


def _tgi_events(served: Served):
    n_tokens = served.schedule.n_tokens
    template = (
        b'data:{"index":%d,"token":{"id":%d,"text":"%s","logprob":-0.1,"special":false},'
        b'"generated_text":null,"details":null}\n\n'
    )

    def token_event(index: int) -> bytes:
        if index < n_tokens - 1:
            return template % (index, index, token_piece(index))
        last = {
            "index": index,
            "token": {"id": index, "text": token_piece(index).decode(), "logprob": -0.1, "special": False},
            "generated_text": full_text(n_tokens),
            "details": _tgi_details(served),
        }
        return b"data:" + orjson.dumps(last) + b"\n\n"

    return (lambda: []), token_event, (lambda: [])


def _chat_events(served: Served, model: str, include_usage: bool):
    start_chunk, *_ = _OPENAI.stream_start(served, model)
    template = b"data: " + _OPENAI.token_template(served, model) + b"\n\n"

    def end_events() -> list[bytes]:
        finish, usage = _OPENAI.stream_end(served, model)
        chunks = [finish, usage] if include_usage else [finish]
        return [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks] + [b"data: [DONE]\n\n"]

    return (
        lambda: [b"data: " + orjson.dumps(start_chunk) + b"\n\n"],
        lambda index: template % token_piece(index),
        end_events,
    )


async def invocations_stream(request: web.Request) -> web.StreamResponse:
    started = await _begin(request, "sagemaker.invoke_stream", True)
    if started.response is not None:
        return started.response
    state, served, body = started.state, started.served, started.body
    assert served is not None
    if _is_chat(body):
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        start_events, token_event, end_events = _chat_events(
            served, body.get("model") or state.config.model, include_usage
        )
    else:
        start_events, token_event, end_events = _tgi_events(served)
    response = eventstream_response(
        served.request_id, {"X-Amzn-SageMaker-Content-Type": "text/event-stream", **_VARIANT}
    )
    return await run_event_stream(
        request,
        state,
        served,
        response,
        start_events=start_events,
        token_event=token_event,
        end_events=end_events,
        error_event=lambda: _ENCODER.exception("ModelStreamError", _STREAM_ERROR),
        encoder=PayloadSplitter(),
    )


def add_sagemaker_routes(app: web.Application) -> None:
    """Register the SageMaker runtime routes."""
    app.router.add_post("/endpoints/{name}/invocations", client_may_leave(invocations))
    app.router.add_post("/endpoints/{name}/invocations-response-stream", client_may_leave(invocations_stream))
