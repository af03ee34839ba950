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
an error response with its type (nothing raises into the runner) with every registered
secret redacted from it (``add_secret``, ``redact``), ``id``, ``input_payload``,
``input_prompt``, ``request_time``, and back-filling ``time_to_end`` (when the response was
read to its end, for endpoints that do not stamp it) and ``time_to_last_token`` for
non-streaming calls. It never sends a request twice, except one the transport proves never left
(``RequestNotSent``): that one is sent again once, with ``retries = 1`` and its clock
restarted, so every request the server could have seen is exactly one recorded request.

Endpoints are asyncio-native: one instance serves every client of a run over one pool of
reused connections, opened by ``open(clients)`` before the first measured request (so no lazy
import, TCP connect or TLS handshake lands in anyone's time to first token: one connection per
client is pre-opened, see ``prewarm_count``) and closed by ``aclose()``.
"""

from __future__ import annotations

import asyncio
import uuid
from abc import ABC, abstractmethod
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from ..checks import check_int, typed_options
from ..clock import now_ns, to_datetime
from ..errors import ConfigError
from ..response import INCOMPLETE, TIMEOUT, UNSENT, InvocationResponse
from .transport.errors import (
    RequestNotSent,  # what a transport raises for a request that never left
    SendCancelled,  # ... and for one cancelled before it was written
)

__all__ = [
    "Endpoint",
    "RequestNotSent",
    "MAX_PREWARM_CONNECTIONS",
    "MIN_SECRET_CHARS",
    "check_prewarm",
    "prewarm_count",
    "public_url",
    "extract_prompt",
]

#: Most connections ``open`` pre-opens by default (one per client up to this many); clients
#: beyond it open their connection in their first request. An explicit
#: ``prewarm_connections`` may not exceed it either.
MAX_PREWARM_CONNECTIONS = 256


def check_prewarm(value: int | None, limit: int = 0, limit_name: str = "") -> None:
    """Refuse a bad ``prewarm_connections`` (None: one per client; else an int from 0 to
    ``MAX_PREWARM_CONNECTIONS`` and at most the pool's connection ``limit``, 0: no limit)."""
    if value is None:
        return
    check_int("endpoint.prewarm_connections", value, 0, MAX_PREWARM_CONNECTIONS)
    if limit and value > limit:
        raise ConfigError("endpoint.prewarm_connections", f"must be at most {limit_name} ({limit}), got {value}")


def prewarm_count(setting: int | None, clients: int, limit: int = 0) -> int:
    """How many connections ``open`` pre-opens: ``setting`` when given, else one per client,
    at most ``MAX_PREWARM_CONNECTIONS`` and the pool's connection ``limit`` (0: no limit)."""
    if setting is not None:
        return setting
    count = min(max(clients, 1), MAX_PREWARM_CONNECTIONS)
    return min(count, limit) if limit else count


def public_url(url: str | None) -> str | None:
    """``url`` without user info, query or fragment: what ``to_config`` records of a URL, so no
    password or key in it reaches a config file."""
    if not url:
        return url
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rsplit("@", 1)[-1], parts.path, "", ""))


#: Secret values shorter than this are not redacted: they would blank out ordinary words.
MIN_SECRET_CHARS = 4

#: Header names whose values are not credentials (not redacted from error texts).
PUBLIC_HEADERS = frozenset(
    {"accept", "accept-encoding", "accept-language", "content-type", "user-agent", "connection", "host"}
)


class Endpoint(ABC):
    """Base class of every endpoint. See the module docstring for the lifecycle."""

    #: The spec-file ``type`` of this endpoint (key in ``ENDPOINT_TYPES``).
    endpoint_type: ClassVar[str] = ""

    #: The secret values (``add_secret``), longest first.
    _secrets: tuple[str, ...] = ()

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

    # -- secrets ---------------------------------------------------------------------
    def add_secret(self, value: object) -> None:
        """Register a credential (API key, header value, AWS secret key, session token): it is
        replaced by ``***`` in every error text this endpoint records (``redact``), so a
        server echoing it in a 401 cannot put it into responses.jsonl, stats or logs."""
        if isinstance(value, str) and len(value) >= MIN_SECRET_CHARS and value not in self._secrets:
            self._secrets = tuple(sorted((*self._secrets, value), key=len, reverse=True))

    def add_header_secrets(self, headers: dict[str, str]) -> None:
        """Register the values of ``headers`` (but ``PUBLIC_HEADERS``), whole and, for a
        ``<scheme> <token>`` value, the token alone (what a server tends to echo)."""
        for name, value in headers.items():
            if str(name).lower() in PUBLIC_HEADERS or not isinstance(value, str):
                continue
            self.add_secret(value.strip())
            self.add_secret(value.strip().rsplit(" ", 1)[-1])

    def redact(self, text: str) -> str:
        """``text`` with every registered secret replaced by ``***``, including the start of
        one cut short where a long message was trimmed (``...``)."""
        secrets = self._secrets
        if not secrets or not isinstance(text, str):
            return text
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, "***")
        if text.endswith("..."):
            head = text[:-3]
            for secret in secrets:
                for n in range(min(len(secret) - 1, len(head)), MIN_SECRET_CHARS - 1, -1):
                    if head.endswith(secret[:n]):
                        return head[:-n] + "***..."
        return text

    def check_available(self) -> None:  # noqa: B027 - a default that checks nothing, not abstract
        """Raise a ConfigError when this endpoint cannot run here (an optional package that is
        not installed). The runner calls it when it is built, before it creates anything."""

    # -- connection pool -------------------------------------------------------------
    async def open(self, clients: int = 1) -> None:  # noqa: B027 - nothing to open by default
        """Create clients and connection pools. Called once, inside the run's event loop.

        ``clients``: how many requests will be in flight at once (the Runner passes its
        ``clients``), so that an endpoint with a connection pool can open one connection per
        client beforehand (``prewarm_count``) and no client's first request pays a connect."""

    async def aclose(self) -> None:  # noqa: B027 - nothing to release by default
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
        A cancellation that came while the request still waited for its connection
        (``SendCancelled``: nothing was written) returns an ``unsent`` response, which the
        runner counts as unsent instead of recording it.
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
                try:
                    raw = await self.invoke(prepared)
                except RequestNotSent:  # provably never left: send it again, from a new start
                    out.retries = 1
                    start = now_ns()
                    out.request_time = to_datetime(start)
                    raw = await self.invoke(prepared)
                await self.parse_response(raw, start, out)
            except (asyncio.CancelledError, SendCancelled) as exc:  # SendCancelled: before a byte was written
                task = asyncio.current_task()
                if task is not None:
                    task.uncancel()
                if timed_out:
                    out.error = f"no complete response within the {timeout} s request timeout"
                    out.error_type = TIMEOUT
                elif isinstance(exc, SendCancelled):
                    out.error, out.error_type = str(exc), UNSENT
                else:
                    out.error = "cancelled while in flight (run ended or was interrupted)"
                    out.error_type = INCOMPLETE
            except Exception as exc:
                out.error, out.error_type = _describe(exc), self.error_type(exc)
            else:
                if out.error is not None and out.error_type is None:
                    out.error_type = "error"
                if out.error is None:
                    if out.time_to_end is None:  # the response was read to its end just now
                        out.time_to_end = (now_ns() - start) / 1e9
                    if out.time_to_last_token is None:
                        out.time_to_last_token = out.time_to_end
            finally:
                if expiry is not None:
                    expiry.cancel()
        if out.error is not None and self._secrets:  # the one place error texts are cleaned
            out.error = self.redact(out.error)
            if out.error_type is not None:
                out.error_type = self.redact(out.error_type)
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
