"""Anthropic Messages API emulation: ``POST /v1/messages``, streaming and not.

The stream is the Messages event stream the ``anthropic`` SDK parses: ``message_start``
(message id, input usage), a ``ping``, per block ``content_block_start`` /
``content_block_delta`` (one per token) / ``content_block_stop``, ``message_delta`` (stop
reason and the cumulative usage), ``message_stop``. With extended thinking asked for
(``"thinking": {"type": "enabled", ...}``) and ``reasoning_tokens`` configured, a thinking
block of that many ``thinking_delta`` tokens (words ``think<i>``) streams first, on the same
token clock as the text that follows, so a client can check its first-token and
first-content times against the schedule (``ttft_ms`` + i x ``itl_ms``).

Usage: ``input_tokens`` is the uncached part of the prompt (the prompt's words minus the
cached tokens), ``cache_read_input_tokens`` the cached part, ``cache_creation_input_tokens``
0. Faults as the other APIs: 429 ``rate_limit_error`` with ``retry-after``, 500
``api_error``, and a disconnect that cuts the stream half-way, by default with an in-band
``error`` event (``overloaded_error``), as the real API reports failures mid-stream
(``disconnect_mode: drop`` closes the connection instead).
"""

from __future__ import annotations

import orjson
from aiohttp import web

from llmeter_core.emulator.latency import now, wait_until
from llmeter_core.emulator.pacing import Pacer, client_may_leave, wait_for_whole_reply
from llmeter_core.emulator.read_stamps import read_time
from llmeter_core.emulator.state import STATE_KEY, EmulatorState, Served
from llmeter_core.emulator.tokens import full_text, thinking_piece, token_piece
from llmeter_core.emulator.wire import content_words, int_or_none, json_response, messages_words, read_json, retry_after

__all__ = ["add_anthropic_routes", "thinking_piece"]

_SSE_HEADERS = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}


def _error(
    status: int, err_type: str, message: str, request_id: str | None = None, headers: dict[str, str] | None = None
) -> web.Response:
    all_headers = dict(headers or {})
    if request_id:
        all_headers["request-id"] = request_id
    body = {"type": "error", "error": {"type": err_type, "message": message}}
    return json_response(body, status=status, headers=all_headers)


def _fault_response(state: EmulatorState, served: Served) -> web.Response | None:
    if served.fault == "429":
        return _error(
            429,
            "rate_limit_error",
            "Number of request tokens has exceeded your rate limit (emulated).",
            served.request_id,
            retry_after(state.config.retry_after_s),
        )
    if served.fault == "500":
        return _error(500, "api_error", "Internal server error (emulated).", served.request_id)
    return None


def _thinking_asked(body: dict) -> bool:
    thinking = body.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


def _usage(served: Served, thinking: int, output: int | None = None) -> dict:
    truth = served.truth
    return {
        "input_tokens": truth.input_tokens - truth.cached_tokens,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": truth.cached_tokens,
        "output_tokens": truth.output_tokens + thinking if output is None else output,
    }


def _message(served: Served, model: str, content: list, stop_reason: str | None, usage: dict) -> dict:
    return {
        "id": served.request_id,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def _event(name: str, data: dict) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + orjson.dumps({"type": name, **data}) + b"\n\n"


async def messages(request: web.Request) -> web.StreamResponse:
    start = now()
    read_at = read_time(request)
    state = request.app[STATE_KEY]
    body = await read_json(request)
    if body is None:
        return _error(400, "invalid_request_error", "The request body is not a JSON object.")
    max_tokens = int_or_none(body.get("max_tokens"))
    if max_tokens is None:
        return _error(400, "invalid_request_error", "max_tokens: Field required")
    stream = bool(body.get("stream"))
    words = content_words(body.get("system")) + messages_words(body.get("messages"))
    served = state.begin("anthropic.messages", stream, start, words, max_tokens, "msg_", body, read_at)
    error = _fault_response(state, served)
    if error is not None:
        return error
    thinking = state.config.reasoning_tokens if _thinking_asked(body) else 0
    model = body.get("model") or state.config.model
    stop_reason = "max_tokens" if served.schedule.truncated else "end_turn"
    served.truth.finish_reason = stop_reason
    if served.schedule.first_byte_s:
        await wait_until(start + served.schedule.first_byte_s)
    if stream:
        return await _stream(request, state, served, model, stop_reason, thinking)
    if not await _whole_reply(request, served, thinking):
        return web.Response()
    content = []
    if thinking:
        content.append(
            {
                "type": "thinking",
                "thinking": b"".join(thinking_piece(i) for i in range(thinking)).decode(),
                "signature": "emulated",
            }
        )
    content.append({"type": "text", "text": full_text(served.schedule.n_tokens)})
    state.truth.finish(served.truth)
    result = _message(served, model, content, stop_reason, _usage(served, thinking))
    return json_response(result, headers={"request-id": served.request_id})


async def _whole_reply(request: web.Request, served: Served, thinking: int) -> bool:
    """A non-streamed reply is due when its last token (thinking tokens first) would be."""
    if not thinking:
        return await wait_for_whole_reply(request, served)
    schedule = served.schedule
    longer = type(schedule)(
        schedule.ttft_s, schedule.itl_s, schedule.n_tokens + thinking, schedule.truncated, schedule.first_byte_s
    )
    whole = Served(served.request_id, served.fault, longer, served.start, served.truth)
    if not await wait_for_whole_reply(request, whole):
        return False
    served.truth.tokens_sent = schedule.n_tokens + thinking
    return True


async def _stream(
    request: web.Request, state: EmulatorState, served: Served, model: str, stop_reason: str, thinking: int
) -> web.StreamResponse:
    schedule = served.schedule
    response = web.StreamResponse(headers={**_SSE_HEADERS, "request-id": served.request_id})
    pacer = Pacer(request, response, served.start, served.truth)
    total = thinking + schedule.n_tokens
    cut = total // 2 if served.fault == "disconnect" else total
    pacer.add(_event("message_start", {"message": _message(served, model, [], None, _usage(served, 0, 1))}))
    pacer.add(_event("ping", {}))
    thinking_delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
        b'"delta":{"type":"thinking_delta","thinking":"%s"}}\n\n'
    )
    text_index = 1 if thinking else 0
    text_delta = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,'
        b'"delta":{"type":"text_delta","text":"%%s"}}\n\n' % text_index
    )
    for index in range(cut):
        await pacer.wait(schedule.due(index))
        if index < thinking:
            if index == 0:
                pacer.add(
                    _event(
                        "content_block_start",
                        {"index": 0, "content_block": {"type": "thinking", "thinking": "", "signature": ""}},
                    )
                )
            pacer.add(thinking_delta % thinking_piece(index), 1, content=False)
            if index == thinking - 1:
                pacer.add(
                    _event(
                        "content_block_delta",
                        {"index": 0, "delta": {"type": "signature_delta", "signature": "emulated"}},
                    )
                )
                pacer.add(_event("content_block_stop", {"index": 0}))
            continue
        token = index - thinking
        if token == 0:
            pacer.add(
                _event("content_block_start", {"index": text_index, "content_block": {"type": "text", "text": ""}})
            )
        pacer.add(text_delta % token_piece(token), 1)
    if cut < total:
        await pacer.wait(schedule.due(cut))
        if state.stream_error_mode("anthropic") == "drop":
            return await pacer.drop()
        pacer.add(
            _event("error", {"error": {"type": "overloaded_error", "message": "Overloaded (emulated disconnect)."}})
        )
        return await pacer.finish()
    pacer.add(_event("content_block_stop", {"index": text_index}))
    pacer.add(
        _event(
            "message_delta",
            {"delta": {"stop_reason": stop_reason, "stop_sequence": None}, "usage": {"output_tokens": total}},
        )
    )
    pacer.add(_event("message_stop", {}))
    result = await pacer.finish()
    state.truth.finish(served.truth)
    return result


def add_anthropic_routes(app: web.Application) -> None:
    """Register ``POST /v1/messages`` on ``app``."""
    app.router.add_post("/v1/messages", client_may_leave(messages))
