"""The endpoint lifecycle, written once for every provider.

An endpoint subclass supplies three small pieces (the aiperf split: payload converter,
transport, response extractor):

- ``prepare_payload(payload)`` (optional): add what the provider needs (model id, stream
  flags) to a user payload. Must not mutate its argument.
- ``invoke(payload)``: make the API call and return the raw response. For a streaming API
  return the open stream, unread: reading it is part of ``parse_response``.
- ``parse_response(raw, start_ns, out)``: read ``raw`` and fill ``out`` (text, token counts,
  ``time_to_first_token``, ``time_to_last_token``, ``id``...). It fills ``out`` *as it goes*, so
  when a stream breaks midway the text and timings read so far are kept.

``Endpoint.call`` does the rest, identically for all of them: the clock (started right before
``invoke``, after payload preparation), the per-request timeout, turning any exception into
an error response with its type (nothing raises into the runner), ``id``, ``input_payload``,
``input_prompt``, ``request_time``, and back-filling ``time_to_last_token`` for non-streaming
calls.

Endpoints are asyncio-native: one instance serves every client of a run over one pool of
reused connections, opened by ``open()`` before the first measured request (so no lazy import
or TLS handshake lands in anyone's time to first token) and closed by ``aclose()``.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ..checks import typed_options
from ..clock import now_ns, to_datetime
from ..response import INCOMPLETE, TIMEOUT, InvocationResponse

__all__ = ["Endpoint", "extract_prompt"]


class Endpoint(ABC):
    """Base class of every endpoint. See the module docstring for the lifecycle."""

    #: The spec-file ``type`` of this endpoint (key in ``ENDPOINT_TYPES``).
    endpoint_type: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Every endpoint's options are checked strictly against the annotations of its
        # __init__ (checks.typed_options), once here for all of them and for endpoints users
        # write: ``stream="maybe"`` or ``api_key=123`` is a ConfigError naming the option.
        super().__init_subclass__(**kwargs)
        init = cls.__dict__.get("__init__")
        if init is not None and not getattr(init, "__typed_options__", False):
            cls.__init__ = typed_options(prefix="endpoint.")(init)  # type: ignore[method-assign]

    @typed_options(prefix="endpoint.")
    def __init__(self, model_id: str, endpoint_name: str | None = None, provider: str = ""):
        self.model_id = model_id
        self.endpoint_name = endpoint_name or model_id
        self.provider = provider

    def check_available(self) -> None:
        """Raise a ConfigError when this endpoint cannot run here (an optional package that is
        not installed). The runner calls it when it is built, before it creates anything."""

    # -- connection pool -------------------------------------------------------------
    async def open(self) -> None:
        """Create clients and connection pools. Called once, inside the run's event loop."""

    async def aclose(self) -> None:
        """Release what ``open`` created."""

    async def __aenter__(self) -> "Endpoint":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the three provider-specific pieces -----------------------------------------
    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        """Return the payload to send (a new dict). Default: unchanged."""
        return payload

    @abstractmethod
    async def invoke(self, payload: dict[str, Any]) -> Any:
        """Make the API call; return the raw response (a stream is returned unread)."""

    @abstractmethod
    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        """Fill ``out`` from ``raw``. Times are seconds since ``start_ns`` (perf_counter_ns)."""

    @staticmethod
    @abstractmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """Build this API's request body for a plain-text prompt (used by spec files)."""

    def payload_for(self, prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """This endpoint's request body for a prompt (spec files use it). Endpoints whose body
        depends on their settings (the model family of an InvokeModel body) override it."""
        return self.create_payload(prompt, max_tokens, **kwargs)

    def prompt_text(self, payload: dict[str, Any]) -> str | None:
        """Human-readable prompt of a payload, for observability and token-count fallback."""
        return extract_prompt(payload)

    def error_type(self, exc: BaseException) -> str:
        """A short, stable name for a failure, used to count errors by kind."""
        explicit = getattr(exc, "error_type", None)
        if isinstance(explicit, str) and explicit:
            return explicit
        response = getattr(exc, "response", None)
        if isinstance(response, dict):  # botocore ClientError
            code = response.get("Error", {}).get("Code")
            if code:
                return str(code)
        return type(exc).__name__

    def to_config(self) -> dict[str, Any]:
        """What run_config.json records about this endpoint. Never secrets: subclasses extend
        this with their public settings only."""
        return {
            "type": self.endpoint_type,
            "model_id": self.model_id,
            "endpoint_name": self.endpoint_name,
            "provider": self.provider,
        }

    # -- the lifecycle ----------------------------------------------------------------
    async def call(self, payload: dict[str, Any], timeout: float | None = None) -> InvocationResponse:
        """Send one request and return what it measured. Never raises for endpoint failures.

        The per-request ``timeout`` is one timer that cancels the running task when it fires
        (cheaper than ``asyncio.timeout``, which costs several microseconds per request). A
        cancellation from elsewhere (the runner ending a run in ``cancel`` mode, or an
        interrupt) is recorded as an ``incomplete`` response and returned rather than
        re-raised: the runner only cancels a client task while it is inside this method, and
        the cancellation is consumed (``uncancel``) so the client loop goes on to record it.
        """
        out = InvocationResponse()
        try:
            prepared = self.prepare_payload(payload)
        except Exception as exc:  # a bad payload is data too
            prepared = payload
            out.error, out.error_type = _describe(exc), self.error_type(exc)
        out.input_payload = prepared
        start = now_ns()
        out.request_time = to_datetime(start)
        if out.error is None:
            expiry = None
            timed_out: list[bool] = []
            if timeout is not None:
                task = asyncio.current_task()
                expiry = asyncio.get_running_loop().call_later(timeout, _expire, task, timed_out)
            try:
                raw = await self.invoke(prepared)
                await self.parse_response(raw, start, out)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                if timed_out:
                    out.error = f"no complete response within the {timeout} s request timeout"
                    out.error_type = TIMEOUT
                else:
                    out.error = "cancelled while in flight (run ended or was interrupted)"
                    out.error_type = INCOMPLETE
            except Exception as exc:
                out.error, out.error_type = _describe(exc), self.error_type(exc)
            else:
                if out.error is not None and out.error_type is None:
                    out.error_type = "error"
                if out.time_to_last_token is None and out.error is None:
                    out.time_to_last_token = (now_ns() - start) / 1e9
            finally:
                if expiry is not None:
                    expiry.cancel()
        out.input_prompt = self.prompt_text(prepared)
        if out.id is None:
            out.id = uuid.uuid4().hex
        return out


def _expire(task: asyncio.Task | None, timed_out: list[bool]) -> None:
    """Timer callback of the per-request timeout."""
    if task is not None and not task.done():
        timed_out.append(True)
        task.cancel()


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def extract_prompt(payload: dict[str, Any]) -> str | None:
    """Best-effort prompt text of the common payload shapes.

    Handles OpenAI chat ``messages`` (string or list-of-parts content), Responses ``input``,
    Bedrock Converse ``messages`` + ``system``, and ``prompt`` / ``inputText`` / ``inputs``
    bodies (InvokeModel, TGI). Returns ``None`` when it finds no text.
    """
    parts: list[str] = []
    system = payload.get("system")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts.extend(_content_text(system))
    messages = payload.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                parts.extend(_content_text(message.get("content")))
    for key in ("input", "prompt", "inputText", "inputs"):
        value = payload.get(key)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    parts.extend(_content_text(item.get("content", item)))
                elif isinstance(item, str):
                    parts.append(item)
    return "\n".join(parts) if parts else None


def _content_text(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if isinstance(content, dict):
        text = content.get("text")
        return [text] if isinstance(text, str) else []
    if isinstance(content, list):
        out: list[str] = []
        for part in content:
            out.extend(_content_text(part))
        return out
    return []
