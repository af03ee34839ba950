"""Anthropic Messages API (``POST {base_url}/v1/messages``), streaming or not.

Sent over the project's direct HTTP/1.1 client like the OpenAI-compatible endpoints (see
``_http.py``): the key goes in ``x-api-key`` (from ``api_key``, else the ``api_key_env``
environment variable, default ``ANTHROPIC_API_KEY``) and every request carries
``anthropic-version``.

The stream is server-sent events: ``message_start`` (the message id and the input usage),
``content_block_start`` / ``content_block_delta`` / ``content_block_stop`` per block,
``message_delta`` (stop reason, cumulative output usage), ``message_stop``; ``ping`` events
may come at any time and an ``error`` event ends a failed stream. Measured as the reasoning
streams are defined project-wide: ``time_to_first_token`` is the first generated token of any
kind (a ``thinking_delta`` of an extended-thinking block or a ``text_delta``),
``time_to_last_token`` the last one, and the first visible answer token is
``time_to_first_content_token`` (``stream_metrics``).

Token counts: Anthropic's ``input_tokens`` excludes the prompt tokens read from or written to
the prompt cache, so ``num_tokens_input`` = ``input_tokens`` + ``cache_read_input_tokens`` +
``cache_creation_input_tokens`` (the whole prompt, as for every endpoint) and
``num_tokens_input_cached`` = ``cache_read_input_tokens``.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..clock import now_ns
from ..errors import ConfigError
from ..response import InvocationResponse
from .openai_compatible import OpenAICompatibleEndpoint, StreamError, describe_error, trim_message
from .stream_metrics import record_stream_times, record_stream_tokens
from .transport.sse import read_body, sse_events

__all__ = ["AnthropicMessagesEndpoint", "DEFAULT_ANTHROPIC_VERSION"]

_loads = orjson.loads

#: The ``anthropic-version`` header sent unless the endpoint sets another.
DEFAULT_ANTHROPIC_VERSION = "2023-06-01"


class AnthropicMessagesEndpoint(OpenAICompatibleEndpoint):
    """The Messages API. Options as ``openai-chat`` (``stream``, ``api_key_env``, ``headers``,
    ``max_connections``, ``extra_body``, ``http_client``) plus ``anthropic_version``;
    ``base_url`` defaults to ``https://api.anthropic.com``."""

    endpoint_type = "anthropic-messages"
    api_path = "/v1/messages"
    auth_header = "x-api-key"
    auth_prefix = ""

    def __init__(
        self,
        model_id: str,
        base_url: str = "https://api.anthropic.com",
        stream: bool = True,
        api_key: str | None = None,
        api_key_env: str = "ANTHROPIC_API_KEY",
        anthropic_version: str = DEFAULT_ANTHROPIC_VERSION,
        **options: Any,
    ):
        if (
            not isinstance(anthropic_version, str)
            or not anthropic_version.strip()
            or any(c in anthropic_version for c in "\r\n\0")
        ):
            raise ConfigError(
                "endpoint.anthropic_version",
                f"must be a version string such as {DEFAULT_ANTHROPIC_VERSION!r}, got {anthropic_version!r}",
            )
        self.anthropic_version = anthropic_version  # read by _headers() during super().__init__
        options.setdefault("provider", "anthropic")
        super().__init__(
            model_id=model_id, base_url=base_url, stream=stream, api_key=api_key, api_key_env=api_key_env, **options
        )

    def _headers(self) -> dict[str, str]:
        headers = super()._headers()
        if not any(name.lower() == "anthropic-version" for name in headers):
            headers["anthropic-version"] = self.anthropic_version
        return headers

    def to_config(self) -> dict[str, Any]:
        return {**super().to_config(), "anthropic_version": self.anthropic_version}

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """``{"messages": [{"role": "user", "content": prompt}], "max_tokens": n}``. The API
        requires ``max_tokens``, so a prompt without one is refused here rather than sent to
        fail on every request."""
        if max_tokens is None:
            raise ConfigError("payloads.max_tokens", "required by the Anthropic Messages API (anthropic-messages)")
        payload: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens}
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
    """Read a Messages event stream into ``out`` (see the module docstring).

    Text pieces are joined once at the end (in ``finally``, so a broken stream keeps what
    arrived); ``ping`` events are skipped undecoded.
    """
    pieces: list[str] = []
    first_ns = first_content_ns = last_ns = max_gap = end_ns = 0
    thinking = 0
    stopped = False
    stop_reason: str | None = None
    usage: dict[str, Any] = {}
    try:
        async for arrival_ns, event, data in sse_events(response.content):
            if event == b"ping":
                continue
            chunk = _loads(data)
            kind = chunk.get("type")
            if kind == "content_block_delta":
                delta = chunk.get("delta") or {}
                kind = delta.get("type")
                if kind == "text_delta":
                    text = delta.get("text")
                    if not text:
                        continue
                    pieces.append(text)
                    if not first_content_ns:
                        first_content_ns = arrival_ns
                elif kind == "thinking_delta" and delta.get("thinking"):
                    thinking += 1
                else:
                    continue  # signature_delta, input_json_delta (tool use): no generated text
                if last_ns:
                    if arrival_ns - last_ns > max_gap:
                        max_gap = arrival_ns - last_ns
                else:
                    first_ns = arrival_ns
                last_ns = arrival_ns
            elif kind == "message_start":
                message = chunk.get("message") or {}
                out.id = message.get("id") or out.id
                usage.update(message.get("usage") or {})
                _read_usage(usage, out)
            elif kind == "message_delta":
                reason = (chunk.get("delta") or {}).get("stop_reason")
                if reason:
                    stop_reason = reason
                usage.update({k: v for k, v in (chunk.get("usage") or {}).items() if v is not None})
                _read_usage(usage, out)
            elif kind == "message_stop":
                stopped = True
            elif kind == "error":
                error = chunk.get("error") or {}
                raise StreamError(str(error.get("type") or "stream_error"), trim_message(describe_error(error)))
        end_ns = now_ns()  # the body's end was read
    finally:
        if pieces:
            out.response_text = "".join(pieces)
        tokens = len(pieces) + thinking
        record_stream_times(out, start_ns, first_ns, first_content_ns, last_ns, max_gap, tokens, end_ns)
        if stop_reason is not None:
            out.annotations["finish_reason"] = stop_reason
        response.release()
    if not stopped:
        raise StreamError("incomplete_stream", "the stream ended without message_stop")
    if out.response_text is None:
        out.response_text = ""
    record_stream_tokens(out, len(pieces), thinking)


async def _read_body(response: Any, start_ns: int, out: InvocationResponse) -> None:
    """Read a non-streaming ``message`` body: the text blocks joined, the usage."""
    arrival_ns, body = await read_body(response)
    out.time_to_last_token = out.time_to_end = (arrival_ns - start_ns) / 1e9
    data = _loads(body)
    out.id = data.get("id")
    if data.get("type") == "error" or "error" in data:
        raise StreamError("response_error", trim_message(describe_error(data)))
    blocks = data.get("content") or []
    out.response_text = "".join(b.get("text") or "" for b in blocks if isinstance(b, dict) and b.get("type") == "text")
    if data.get("stop_reason"):
        out.annotations["finish_reason"] = data["stop_reason"]
    usage = data.get("usage")
    if usage:
        _read_usage(usage, out)


def _read_usage(usage: dict[str, Any], out: InvocationResponse) -> None:
    """Messages usage: the whole prompt (uncached + cache read + cache written), cached reads,
    output tokens (thinking included, as the API counts them)."""
    uncached = usage.get("input_tokens")
    if uncached is not None:
        read = usage.get("cache_read_input_tokens") or 0
        written = usage.get("cache_creation_input_tokens") or 0
        out.num_tokens_input = uncached + read + written
        out.num_tokens_input_cached = read
    output = usage.get("output_tokens")
    if output is not None:
        out.num_tokens_output = output
