"""OpenAI Chat Completions (``POST {base_url}/chat/completions``), streaming or not, for any
OpenAI-compatible server (OpenAI, vLLM, llama.cpp, TGI, LiteLLM proxy, the emulator).

Measured as LLMeter defines it for reasoning models: time to first token at the first chunk
with a generated token (non-empty content or a reasoning delta; role-only and usage-only
chunks do not count), time to first content token at the first non-empty content, time to
last token at the last token chunk, time to end at the end of the body. Token counts come
from ``usage`` (asked for with ``stream_options.include_usage``); for servers that ignore it
the output count is the streamed token chunks (``num_tokens_output_source: stream``, see
``stream_metrics``) and the runner's tokenizer counts the prompt.

Transport: the project's direct HTTP/1.1 client by default (``http_client="aiohttp"``
behind a proxy), not the ``openai`` SDK: see ``openai_compatible.py`` and ``docs/transport.md``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..clock import now_ns
from ..response import InvocationResponse
from .openai_compatible import (
    OpenAICompatibleEndpoint,
    StreamError,
    describe_error,
    trim_message,
)
from .stream_metrics import record_stream_times, record_stream_tokens
from .transport.sse import SSESplitter, read_body, read_pushed

__all__ = ["OpenAIChatEndpoint"]

_loads = orjson.loads


class OpenAIChatEndpoint(OpenAICompatibleEndpoint):
    """Chat Completions endpoint. See ``OpenAICompatibleEndpoint`` for the settings."""

    endpoint_type = "openai-chat"
    api_path = "/chat/completions"

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """``{"messages": [{"role": "user", "content": prompt}], "max_tokens": n}``; extra
        keyword arguments (``temperature``...) are added to the body as they are."""
        payload: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        payload.update(kwargs)
        return payload

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A new body with ``model``, ``extra_body`` and the stream flags of this endpoint
        (a stream always asks for usage)."""
        body = {**payload, **self.extra_body, "model": self.model_id, "stream": self.stream}
        if self.stream:
            options = body.get("stream_options")
            body["stream_options"] = (
                {**options, "include_usage": True} if isinstance(options, dict) else {"include_usage": True}
            )
        else:
            body.pop("stream_options", None)
        return body

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        if self.stream:
            await _read_stream(raw, start_ns, out)
        else:
            await _read_body(raw, start_ns, out)


class _ChatStream:
    """The state of one ``chat.completion.chunk`` stream as its events arrive (``on_data``,
    fed by an ``SSESplitter``): a few integers per response, the text pieces in a list."""

    __slots__ = (
        "out",
        "pieces",
        "first_ns",
        "first_content_ns",
        "last_ns",
        "max_gap",
        "reasoning",
        "done",
        "finish_reason",
    )

    def __init__(self, out: InvocationResponse):
        self.out = out
        self.pieces: list[str] = []
        self.first_ns = self.first_content_ns = self.last_ns = self.max_gap = 0
        self.reasoning = 0
        self.done = False
        self.finish_reason: str | None = None

    def on_data(self, arrival_ns: int, _event: bytes | None, data: bytes) -> None:
        if data == b"[DONE]":
            self.done = True
            return
        chunk = _loads(data)
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                content = delta.get("content")
                if content and content.__class__ is not str:
                    content = _parts_text(content)
                if content:
                    if not self.first_content_ns:
                        self.first_content_ns = arrival_ns
                    self.pieces.append(content)
                    token = True
                elif delta.get("reasoning_content") or delta.get("reasoning"):
                    self.reasoning += 1
                    token = True
                else:
                    token = False
                if token:
                    last_ns = self.last_ns
                    if last_ns:
                        if arrival_ns - last_ns > self.max_gap:
                            self.max_gap = arrival_ns - last_ns
                    else:
                        self.first_ns = arrival_ns
                    self.last_ns = arrival_ns
            reason = choice.get("finish_reason")
            if reason:
                self.finish_reason = reason
        usage = chunk.get("usage")
        if usage:
            _read_usage(usage, self.out)
        if self.out.id is None:
            self.out.id = chunk.get("id")
        error = chunk.get("error")
        if error:
            raise StreamError("stream_error", trim_message(describe_error(error)))


async def _read_stream(response: Any, start_ns: int, out: InvocationResponse) -> None:
    """Read an SSE stream of ``chat.completion.chunk`` objects into ``out``.

    Token times are those of the network reads that carried them: each read is split and
    decoded as it arrives (``read_pushed``: on the direct client inside the connection's read
    callback, after the read was stamped). A reasoning delta (``reasoning_content``, as vLLM
    and DeepSeek send it, or ``reasoning``) is a generated token: it can be the first token,
    but not the first content token (``stream_metrics``). The body is read to its end even
    after ``[DONE]`` (only the chunked-encoding terminator is left: a response abandoned
    before its end closes its connection instead of returning it to the pool). Text pieces are
    collected in a list and joined once; ``out`` gets the text and the times in ``finally`` so
    a broken stream keeps what arrived.
    """
    state = _ChatStream(out)
    splitter = SSESplitter(state.on_data)
    end_ns = 0
    try:
        await read_pushed(response.content, splitter.feed)
        splitter.end()
        end_ns = now_ns()  # the body's end was read
    finally:
        pieces = state.pieces
        if pieces:
            out.response_text = "".join(pieces)
        tokens = len(pieces) + state.reasoning
        record_stream_times(
            out, start_ns, state.first_ns, state.first_content_ns, state.last_ns, state.max_gap, tokens, end_ns
        )
        if state.finish_reason is not None:
            out.annotations["finish_reason"] = state.finish_reason
        response.release()
    if not state.done and state.finish_reason is None:
        raise StreamError("incomplete_stream", "the stream ended without [DONE] or a finish_reason")
    record_stream_tokens(out, len(pieces), state.reasoning)
    if out.response_text is None:
        out.response_text = ""


async def _read_body(response: Any, start_ns: int, out: InvocationResponse) -> None:
    """Read a non-streaming ``chat.completion`` body into ``out``."""
    arrival_ns, body = await read_body(response)
    out.time_to_last_token = out.time_to_end = (arrival_ns - start_ns) / 1e9
    data = _loads(body)
    out.id = data.get("id")
    error = data.get("error")
    if error:
        raise StreamError("response_error", trim_message(describe_error(error)))
    choices = data.get("choices") or []
    text = ""
    if choices:
        choice = choices[0]
        message = choice.get("message") or {}
        content = message.get("content")
        text = content if isinstance(content, str) else _parts_text(content) if content else ""
        if choice.get("finish_reason"):
            out.annotations["finish_reason"] = choice["finish_reason"]
    out.response_text = text
    usage = data.get("usage")
    if usage:
        _read_usage(usage, out)


def _read_usage(usage: dict[str, Any], out: InvocationResponse) -> None:
    """Chat usage: prompt/completion tokens, cached and reasoning details when present."""
    prompt = usage.get("prompt_tokens")
    if prompt is not None:
        out.num_tokens_input = prompt
    completion = usage.get("completion_tokens")
    if completion is not None:
        out.num_tokens_output = completion
    details = usage.get("prompt_tokens_details")
    if details and details.get("cached_tokens") is not None:
        out.num_tokens_input_cached = details["cached_tokens"]
    details = usage.get("completion_tokens_details")
    if details and details.get("reasoning_tokens") is not None:
        out.num_tokens_output_reasoning = details["reasoning_tokens"]


def _parts_text(content: Any) -> str:
    """Text of content sent as a list of parts (``[{"type": "text", "text": ...}]``)."""
    if isinstance(content, list):
        return "".join(p.get("text") or "" if isinstance(p, dict) else str(p) for p in content)
    return str(content) if content is not None else ""
