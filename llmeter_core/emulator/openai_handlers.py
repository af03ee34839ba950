"""OpenAI API emulation: ``/v1/chat/completions``, ``/v1/responses``, ``/v1/models``.

Bodies follow the wire formats the ``openai`` SDK parses (see
``shared/reference/wire-formats.md``). Chat streams: a role chunk and the first token at the
TTFT, one chunk per token (with ``stream_reasoning``, the reasoning tokens first as
``reasoning_content`` deltas), a finish chunk, a usage chunk only when
``stream_options.include_usage`` is true (and ``omit_usage`` is off), then ``data: [DONE]``.
Responses streams: ``event:`` lines with increasing ``sequence_number``; ``response.completed`` (or
``response.incomplete`` when ``max_output_tokens`` cut the output, as the real API does)
carries the usage. Per-token chunks are spliced into pre-encoded byte templates.
"""

from __future__ import annotations

import time

import orjson
from aiohttp import web

from llmeter_core.emulator.pacing import Pacer, client_may_leave, wait_for_whole_reply
from llmeter_core.emulator.prologue import begin_request
from llmeter_core.emulator.state import STATE_KEY, EmulatorState, Served, count_words
from llmeter_core.emulator.tokens import full_text, thinking_piece, token_piece
from llmeter_core.emulator.wire import int_or_none, json_response, messages_words, retry_after

__all__ = ["add_openai_routes"]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
_DONE = b"data: [DONE]\n\n"


def _error(
    status: int,
    message: str,
    err_type: str,
    code: str | None,
    request_id: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    all_headers = dict(headers or {})
    if request_id:
        all_headers["x-request-id"] = request_id
    body = {"error": {"message": message, "type": err_type, "param": None, "code": code}}
    return json_response(body, status=status, headers=all_headers)


def _invalid_body(state: EmulatorState) -> web.Response:
    return _error(400, "The request body is not a JSON object.", "invalid_request_error", None)


def _fault_response(state: EmulatorState, served: Served) -> web.Response | None:
    """The immediate error response of a 429/500 fault, else None."""
    if served.fault == "429":
        return _error(
            429,
            "Rate limit reached (emulated).",
            "requests",
            "rate_limit_exceeded",
            served.request_id,
            retry_after(state.config.retry_after_s),
        )
    if served.fault == "500":
        return _error(
            500,
            "The server had an error while processing your request (emulated).",
            "server_error",
            None,
            served.request_id,
        )
    return None


def _chat_usage(served: Served, reasoning: int) -> dict:
    truth = served.truth
    completion = truth.output_tokens + reasoning
    return {
        "prompt_tokens": truth.input_tokens,
        "completion_tokens": completion,
        "total_tokens": truth.input_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": truth.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _responses_usage(served: Served, reasoning: int) -> dict:
    truth = served.truth
    output = truth.output_tokens + reasoning
    return {
        "input_tokens": truth.input_tokens,
        "input_tokens_details": {"cached_tokens": truth.cached_tokens},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": reasoning},
        "total_tokens": truth.input_tokens + output,
    }


def _streamed_reasoning(state: EmulatorState) -> int:
    """Reasoning tokens a stream sends as deltas before the answer (``stream_reasoning``)."""
    return int(state.config.reasoning_tokens) if state.config.stream_reasoning else 0


def _chat_read(body: dict) -> tuple[int, int | None]:
    max_tokens = int_or_none(body.get("max_completion_tokens"))
    if max_tokens is None:
        max_tokens = int_or_none(body.get("max_tokens"))
    return messages_words(body.get("messages")), max_tokens


async def chat_completions(request: web.Request) -> web.StreamResponse:
    started = await begin_request(
        request,
        "openai.chat",
        _chat_read,
        id_prefix="chatcmpl-",
        invalid_body=_invalid_body,
        fault_response=_fault_response,
    )
    if started.response is not None:
        return started.response
    state, served, body = started.state, started.served, started.body
    assert served is not None
    model = body.get("model") or state.config.model
    finish = "length" if served.schedule.truncated else "stop"
    if served.truth.stream:
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and bool(options.get("include_usage"))
        if state.config.omit_usage:
            include_usage = False
        return await _chat_stream(request, state, served, model, finish, include_usage)
    return await _chat_json(request, state, served, model, finish)


async def _chat_json(
    request: web.Request, state: EmulatorState, served: Served, model: str, finish: str
) -> web.StreamResponse:
    schedule = served.schedule
    if not await wait_for_whole_reply(request, served):
        return web.Response()
    result = {
        "id": served.request_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": full_text(schedule.n_tokens), "refusal": None},
                "logprobs": None,
                "finish_reason": finish,
            }
        ],
        "usage": _chat_usage(served, state.config.reasoning_tokens),
    }
    state.truth.finish(served.truth)
    return json_response(result, headers={"x-request-id": served.request_id})


async def _chat_stream(
    request: web.Request, state: EmulatorState, served: Served, model: str, finish: str, include_usage: bool
) -> web.StreamResponse:
    schedule = served.schedule
    request_id = served.request_id
    response = web.StreamResponse(headers={**_SSE_HEADERS, "x-request-id": request_id})
    pacer = Pacer(request, response, served.start, served.truth)
    head = (
        b'data: {"id":"%s","object":"chat.completion.chunk","created":%d,"model":%s,'
        b'"system_fingerprint":null,"choices":[{"index":0,"delta":'
        % (request_id.encode(), int(time.time()), orjson.dumps(model))
    )
    token_template = head + b'{"content":"%s"},"logprobs":null,"finish_reason":null}]}\n\n'
    reasoning_template = head + b'{"reasoning_content":"%s"},"logprobs":null,"finish_reason":null}]}\n\n'
    reasoning = _streamed_reasoning(state)
    total = reasoning + schedule.n_tokens
    cut = total // 2 if served.fault == "disconnect" else total
    for index in range(cut):
        await pacer.wait(schedule.due(index))
        if index == 0:
            pacer.add(
                head + b'{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n'
            )
        if index < reasoning:
            pacer.add(reasoning_template % thinking_piece(index), 1, content=False)
        else:
            pacer.add(token_template % token_piece(index - reasoning), 1)
    if cut < total:
        await pacer.wait(schedule.due(cut))
        if state.stream_error_mode("openai") == "drop":
            return await pacer.drop()
        pacer.add(
            b'data: {"error":{"message":"The server had an error while processing your request '
            b'(emulated disconnect).","type":"server_error","param":null,"code":null}}\n\n'
        )
        return await pacer.finish()
    pacer.add(head + b'{},"logprobs":null,"finish_reason":"%s"}]}\n\n' % finish.encode())
    if include_usage:
        usage = orjson.dumps(_chat_usage(served, state.config.reasoning_tokens))
        pacer.add(head[: head.index(b'"choices"')] + b'"choices":[],"usage":' + usage + b"}\n\n")
    pacer.add(_DONE)
    result = await pacer.finish()
    state.truth.finish(served.truth)
    return result


def _responses_input_words(body: dict) -> int:
    words = count_words(body.get("instructions"))
    value = body.get("input")
    if isinstance(value, str):
        return words + count_words(value)
    return words + messages_words(value)


def _response_object(
    served: Served,
    model: str,
    created: int,
    status: str,
    output: list,
    usage: dict | None,
    max_output_tokens: int | None,
) -> dict:
    return {
        "id": served.request_id,
        "object": "response",
        "created_at": created,
        "status": status,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
        "instructions": None,
        "max_output_tokens": max_output_tokens,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": False,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": usage,
        "user": None,
        "metadata": {},
    }


def _message_item(item_id: str, status: str, text: str | None) -> dict:
    content = [] if text is None else [{"type": "output_text", "text": text, "annotations": [], "logprobs": []}]
    return {"id": item_id, "type": "message", "status": status, "role": "assistant", "content": content}


def _responses_read(body: dict) -> tuple[int, int | None]:
    return _responses_input_words(body), int_or_none(body.get("max_output_tokens"))


async def responses(request: web.Request) -> web.StreamResponse:
    started = await begin_request(
        request,
        "openai.responses",
        _responses_read,
        id_prefix="resp_",
        invalid_body=_invalid_body,
        fault_response=_fault_response,
    )
    if started.response is not None:
        return started.response
    state, served, body = started.state, started.served, started.body
    assert served is not None
    max_output_tokens = int_or_none(body.get("max_output_tokens"))
    model = body.get("model") or state.config.model
    status = "incomplete" if served.schedule.truncated else "completed"
    created = int(time.time())
    item_id = "msg_" + served.request_id[5:]
    if served.truth.stream:
        return await _responses_stream(request, state, served, model, created, item_id, status, max_output_tokens)
    if not await wait_for_whole_reply(request, served):
        return web.Response()
    output = [_message_item(item_id, status, full_text(served.schedule.n_tokens))]
    usage = _responses_usage(served, state.config.reasoning_tokens)
    state.truth.finish(served.truth)
    result = _response_object(served, model, created, status, output, usage, max_output_tokens)
    return json_response(result, headers={"x-request-id": served.request_id})


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


async def _responses_stream(
    request: web.Request,
    state: EmulatorState,
    served: Served,
    model: str,
    created: int,
    item_id: str,
    status: str,
    max_output_tokens: int | None,
) -> web.StreamResponse:
    schedule = served.schedule
    response = web.StreamResponse(headers={**_SSE_HEADERS, "x-request-id": served.request_id})
    pacer = Pacer(request, response, served.start, served.truth)
    seq = 0

    def event(name: str, data: dict) -> None:
        nonlocal seq
        pacer.add(_event(name, {"type": name, "sequence_number": seq, **data}))
        seq += 1

    pending = _response_object(served, model, created, "in_progress", [], None, max_output_tokens)
    event("response.created", {"response": pending})
    event("response.in_progress", {"response": pending})
    event("response.output_item.added", {"output_index": 0, "item": _message_item(item_id, "in_progress", None)})
    part_empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
    where = {"item_id": item_id, "output_index": 0, "content_index": 0}
    event("response.content_part.added", {**where, "part": part_empty})
    delta_template = (
        b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta",'
        b'"sequence_number":%d,"item_id":"'
        + item_id.encode()
        + b'","output_index":0,"content_index":0,"delta":"%s","logprobs":[]}\n\n'
    )
    reasoning_template = (
        b'event: response.reasoning_text.delta\ndata: {"type":"response.reasoning_text.delta",'
        b'"sequence_number":%d,"item_id":"rs_'
        + item_id[4:].encode()
        + b'","output_index":0,"content_index":0,"delta":"%s"}\n\n'
    )
    reasoning = _streamed_reasoning(state)
    total = reasoning + schedule.n_tokens
    cut = total // 2 if served.fault == "disconnect" else total
    for index in range(cut):
        await pacer.wait(schedule.due(index))
        if index < reasoning:
            pacer.add(reasoning_template % (seq, thinking_piece(index)), 1, content=False)
        else:
            pacer.add(delta_template % (seq, token_piece(index - reasoning)), 1)
        seq += 1
    if cut < total:
        await pacer.wait(schedule.due(cut))
        if state.stream_error_mode("openai") == "drop":
            return await pacer.drop()
        event(
            "error",
            {"code": "server_error", "message": "The server had an error (emulated disconnect).", "param": None},
        )
        return await pacer.finish()
    text = full_text(schedule.n_tokens)
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    event("response.output_text.done", {**where, "text": text, "logprobs": []})
    event("response.content_part.done", {**where, "part": part})
    item = _message_item(item_id, status, text)
    event("response.output_item.done", {"output_index": 0, "item": item})
    usage = None if state.config.omit_usage else _responses_usage(served, state.config.reasoning_tokens)
    final = _response_object(served, model, created, status, [item], usage, max_output_tokens)
    event("response.completed" if status == "completed" else "response.incomplete", {"response": final})
    result = await pacer.finish()
    state.truth.finish(served.truth)
    return result


async def models(request: web.Request) -> web.Response:
    model = request.app[STATE_KEY].config.model
    return json_response(
        {"object": "list", "data": [{"id": model, "object": "model", "created": 0, "owned_by": "llmeter-emulator"}]}
    )


def add_openai_routes(app: web.Application) -> None:
    """Register the OpenAI routes on ``app``."""
    app.router.add_post("/v1/chat/completions", client_may_leave(chat_completions))
    app.router.add_post("/v1/responses", client_may_leave(responses))
    app.router.add_get("/v1/models", models)
