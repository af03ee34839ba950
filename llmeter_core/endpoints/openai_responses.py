"""OpenAI Responses API (``POST {base_url}/responses``), streaming or not.

A stream is a sequence of typed SSE events (``event: TYPE`` then ``data: {...}``) ending with
``response.completed`` (no ``[DONE]``). About sixty event types exist; only five matter
here and the others are skipped *before* their JSON is decoded:

- ``response.output_text.delta``: text; the first non-empty one is the time to first content
  token;
- ``response.reasoning_text.delta`` / ``response.reasoning_summary_text.delta``: streamed
  reasoning, a generated token too: the first token of either kind is the time to first token,
  the last one the time to last token (``stream_metrics``);
- ``response.created``: the response id, known early so a broken stream keeps it;
- ``response.completed``: usage (input, output, cached and reasoning tokens) and the id;
- ``response.incomplete``: the end of a response cut short. Cut by ``max_output_tokens`` it
  is a normal end (what Chat Completions reports as ``finish_reason: "length"``: a load test
  capping output length must not count every request as failed); for any other reason
  (content filter...) it is an ``response_incomplete`` error;
- ``response.failed`` and ``error``: ``response_failed`` / ``stream_error`` errors.

``out.annotations["finish_reason"]`` uses the Chat Completions vocabulary (``stop``,
``length``, or the incomplete reason as given) so runs against both APIs compare.

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
from .transport.sse import read_body, sse_events

__all__ = ["OpenAIResponsesEndpoint"]

_loads = orjson.loads

_DELTA = "response.output_text.delta"
_CREATED = "response.created"
_COMPLETED = "response.completed"
_INCOMPLETE = "response.incomplete"
_FAILED = "response.failed"
_ERROR = "error"
#: Reasoning deltas: raw reasoning text (open-weight models, gpt-oss) and reasoning summaries.
_REASONING = "response.reasoning_text.delta"
_SUMMARY = "response.reasoning_summary_text.delta"
#: Event names (as sent on ``event:`` lines) whose data is decoded; all others are skipped.
_WANTED: dict[bytes, str] = {
    name.encode(): name for name in (_DELTA, _CREATED, _COMPLETED, _INCOMPLETE, _FAILED, _ERROR, _REASONING, _SUMMARY)
}


class OpenAIResponsesEndpoint(OpenAICompatibleEndpoint):
    """Responses API endpoint. See ``OpenAICompatibleEndpoint`` for the settings."""

    endpoint_type = "openai-responses"
    api_path = "/responses"

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """``{"input": prompt, "max_output_tokens": n}``; extra keyword arguments
        (``instructions``, ``reasoning``...) are added to the body as they are."""
        payload: dict[str, Any] = {"input": prompt}
        if max_tokens is not None:
            payload["max_output_tokens"] = max_tokens
        payload.update(kwargs)
        return payload

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """A new body with ``model``, ``extra_body`` and this endpoint's ``stream`` flag."""
        return {**payload, **self.extra_body, "model": self.model_id, "stream": self.stream}

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        if self.stream:
            await _read_stream(raw, start_ns, out)
        else:
            await _read_body(raw, start_ns, out)


async def _read_stream(response: Any, start_ns: int, out: InvocationResponse) -> None:
    """Read a Responses event stream into ``out``; partial text and timings survive a break."""
    pieces: list[str] = []
    first_ns = first_content_ns = last_ns = max_gap = end_ns = 0
    reasoning = 0
    final: dict[str, Any] | None = None
    try:
        async for arrival_ns, event, data in sse_events(response.content):
            if event is None:  # a server that sends only ``data:`` lines: the type is inside
                if data == b"[DONE]":
                    continue
                obj = _loads(data)
                kind = obj.get("type")
            else:
                kind = _WANTED.get(event)
                if kind is None:
                    continue
                obj = _loads(data)
            if kind == _DELTA or kind == _REASONING or kind == _SUMMARY:
                delta = obj.get("delta")
                if delta:
                    if kind == _DELTA:
                        if not first_content_ns:
                            first_content_ns = arrival_ns
                        pieces.append(delta)
                    else:
                        reasoning += 1
                    if last_ns:
                        if arrival_ns - last_ns > max_gap:
                            max_gap = arrival_ns - last_ns
                    else:
                        first_ns = arrival_ns
                    last_ns = arrival_ns
            elif kind == _CREATED:
                if out.id is None:
                    out.id = (obj.get("response") or {}).get("id")
            elif kind == _COMPLETED or kind == _INCOMPLETE or kind == _FAILED:
                final = obj.get("response") or {}
                _read_final(final, out)
            elif kind == _ERROR:
                raise StreamError("stream_error", trim_message(describe_error(obj)))
        end_ns = now_ns()  # the body's end was read
    finally:
        if pieces:
            out.response_text = "".join(pieces)
        tokens = len(pieces) + reasoning
        record_stream_times(out, start_ns, first_ns, first_content_ns, last_ns, max_gap, tokens, end_ns)
        response.release()
    if final is None:
        raise StreamError("incomplete_stream", "the stream ended without response.completed")
    if out.response_text is None:  # a server that sent the text only in the final response
        out.response_text = _output_text(final)
    record_stream_tokens(out, len(pieces), reasoning)
    _check_status(final, out)


async def _read_body(response: Any, start_ns: int, out: InvocationResponse) -> None:
    """Read a non-streaming Response object into ``out``."""
    arrival_ns, body = await read_body(response)
    out.time_to_last_token = out.time_to_end = (arrival_ns - start_ns) / 1e9
    data = _loads(body)
    _read_final(data, out)
    out.response_text = _output_text(data)
    _check_status(data, out)


def _read_final(response: dict[str, Any], out: InvocationResponse) -> None:
    """Id, usage and finish reason of a (final) Response object."""
    if response.get("id"):
        out.id = response["id"]
    usage = response.get("usage")
    if usage:
        if usage.get("input_tokens") is not None:
            out.num_tokens_input = usage["input_tokens"]
        if usage.get("output_tokens") is not None:
            out.num_tokens_output = usage["output_tokens"]
        details = usage.get("input_tokens_details")
        if details and details.get("cached_tokens") is not None:
            out.num_tokens_input_cached = details["cached_tokens"]
        details = usage.get("output_tokens_details")
        if details and details.get("reasoning_tokens") is not None:
            out.num_tokens_output_reasoning = details["reasoning_tokens"]
    status = response.get("status")
    if status == "completed":
        out.annotations["finish_reason"] = "stop"
    elif status == "incomplete":
        reason = (response.get("incomplete_details") or {}).get("reason") or "incomplete"
        out.annotations["finish_reason"] = "length" if reason == "max_output_tokens" else reason


def _check_status(response: dict[str, Any], out: InvocationResponse) -> None:
    """Raise for a failed response, or one cut short for another reason than its length."""
    status = response.get("status")
    error = response.get("error")
    if status == "failed" or error:
        raise StreamError("response_failed", trim_message(describe_error(error or "response failed")))
    if status == "incomplete" and out.annotations.get("finish_reason") != "length":
        raise StreamError("response_incomplete", f"response incomplete: {out.annotations.get('finish_reason')}")


def _output_text(response: dict[str, Any]) -> str:
    """Concatenated ``output_text`` parts of the ``message`` items of ``output``."""
    parts: list[str] = []
    for item in response.get("output") or ():
        if isinstance(item, dict) and item.get("type", "message") == "message":
            for part in item.get("content") or ():
                if isinstance(part, dict) and part.get("type") == "output_text":
                    parts.append(part.get("text") or "")
    if not parts and isinstance(response.get("output_text"), str):
        return response["output_text"]
    return "".join(parts)
