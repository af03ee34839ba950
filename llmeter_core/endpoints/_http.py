"""HTTP plumbing shared by the OpenAI-compatible endpoints: one pooled aiohttp session,
request sending, error mapping and a lean server-sent-events reader.

Why aiohttp and not the ``openai`` SDK: the SDK builds a pydantic object for every stream
chunk on top of httpx's own per-request machinery. That is client CPU spent on every token,
on the very event loop that timestamps the tokens, so under load the measured time to first
token grows with the number of clients (LLMeter 0.2.0, SDK + threads: 14.5 CPU-ms per
50-token request, TTFT inflated ~250 ms at 64 clients). Here a request is one POST on a
kept-alive connection and a stream is read a network chunk at a time, decoding JSON
(orjson) only for the events that carry data.

Nothing retries: a load tester must record a 429 as a 429, not hide it behind backoff.
"""

from __future__ import annotations

import os
from typing import Any, AsyncIterator

import aiohttp
import orjson

from ..clock import now_ns
from ..errors import ConfigError
from .base import Endpoint

__all__ = [
    "EndpointHTTPError",
    "StreamError",
    "OpenAICompatibleEndpoint",
    "sse_events",
    "describe_error",
    "error_message",
    "trim_message",
]

#: Longest server error message kept in an error response (bodies can be whole HTML pages).
MAX_ERROR_CHARS = 300

#: No aiohttp timers: the per-request timeout is ``Endpoint.call``'s ``asyncio.timeout``, and
#: each aiohttp timer would cost CPU on every request for nothing.
_NO_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None)


class EndpointHTTPError(Exception):
    """A non-2xx answer. ``error_type`` is ``http_<status>`` (``http_429``...)."""

    def __init__(self, status: int, message: str):
        self.status = status
        self.error_type = f"http_{status}"
        super().__init__(f"HTTP {status}: {message}" if message else f"HTTP {status}")


class StreamError(Exception):
    """A failure reported inside a response (an error chunk or event, a stream cut short)."""

    def __init__(self, error_type: str, message: str):
        self.error_type = error_type
        super().__init__(message)


def trim_message(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """One line of at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def error_message(body: bytes) -> str:
    """The human part of an error body: OpenAI's ``{"error": {"message": ...}}``, a bare
    ``{"message": ...}`` / ``{"detail": ...}``, or the raw text."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return trim_message(body.decode("utf-8", "replace"))
    return trim_message(describe_error(data))


def describe_error(data: Any) -> str:
    """Text of a JSON error object, whatever its nesting (``{"error": {...}}``, ``{"code",
    "message"}``, a plain string)."""
    if isinstance(data, dict):
        inner = data.get("error")
        if inner is not None and inner is not data:
            return describe_error(inner)
        message = data.get("message") or data.get("detail")
        code = data.get("code") or data.get("type")
        if message and code:
            return f"{code}: {message}"
        if message or code:
            return str(message or code)
        return orjson.dumps(data).decode()
    return str(data)


async def sse_events(content: aiohttp.StreamReader) -> AsyncIterator[tuple[int, bytes | None, bytes]]:
    """Yield ``(arrival_ns, event_name, data)`` for every ``data:`` line of a server-sent-events
    stream.

    ``arrival_ns`` is the ``now_ns()`` at which the network chunk holding the line was handed
    to us, taken before any parsing, so the time of a token does not include the cost of
    decoding it (or the lines before it in the same chunk). ``event_name`` is the value of
    the preceding ``event:`` line of the same event, or ``None``. Comments, ids and retry
    fields are ignored. Multi-line data (rare in LLM APIs) is yielded line by line. A line
    is only sliced here; decoding JSON is left to the caller, which skips the events it does
    not use without decoding them.

    The stream is read a network chunk at a time and split into lines with one
    ``bytes.split`` per chunk, rather than with ``async for line in content``: aiohttp's
    ``readline`` costs several microseconds of Python per line (an SSE event is two or three
    lines), which on a 1-token response was a third of the client's whole per-request CPU.
    A line cut between two chunks is carried over, so any length is accepted.
    """
    event: bytes | None = None
    carry: list[bytes] = []
    readany = content.readany
    while True:
        chunk = await readany()
        arrival_ns = now_ns()
        if not chunk:
            break
        lines = chunk.split(b"\n")
        if len(lines) == 1:  # no line end yet: keep the piece for the next chunk
            carry.append(chunk)
            continue
        if carry:
            carry.append(lines[0])
            lines[0] = b"".join(carry)
            carry.clear()
        last = lines.pop()
        if last:
            carry.append(last)
        for line in lines:
            if line[:5] == b"data:":
                yield arrival_ns, event, line[5:].strip()
            elif line[:6] == b"event:":
                event = line[6:].strip()
            elif not line or line == b"\r":
                event = None
    if carry:  # a last line without its line end
        line = b"".join(carry)
        if line[:5] == b"data:":
            yield arrival_ns, event, line[5:].strip()


class OpenAICompatibleEndpoint(Endpoint):
    """What the Chat Completions and Responses endpoints share: settings, the API key, the
    connection pool, the POST and the mapping of HTTP errors.

    The API key is read once (argument, else the ``api_key_env`` environment variable), kept
    in a private attribute and in the session's default headers only: it is never part of
    ``to_config()``, ``repr()`` or an error message.
    """

    #: Path appended to ``base_url``, e.g. ``/chat/completions``.
    api_path: str = ""

    def __init__(
        self,
        model_id: str,
        base_url: str,
        stream: bool = True,
        api_key: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        endpoint_name: str | None = None,
        provider: str = "openai",
        headers: dict[str, str] | None = None,
        max_connections: int = 0,
        extra_body: dict[str, Any] | None = None,
    ):
        super().__init__(model_id=model_id, endpoint_name=endpoint_name, provider=provider)
        if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
            raise ConfigError("endpoint.base_url", f"must be an http(s) URL, got {base_url!r}")
        if not isinstance(max_connections, int) or max_connections < 0:
            raise ConfigError("endpoint.max_connections", "must be an integer >= 0 (0 = unlimited)")
        if extra_body is not None and not isinstance(extra_body, dict):
            raise ConfigError("endpoint.extra_body", "must be a mapping")
        if headers is not None and not isinstance(headers, dict):
            raise ConfigError("endpoint.headers", "must be a mapping of header names to values")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + self.api_path
        self.stream = bool(stream)
        self.api_key_env = api_key_env
        self.headers = dict(headers or {})
        self.max_connections = max_connections
        self.extra_body = dict(extra_body or {})
        self.__api_key = api_key if api_key is not None else (os.environ.get(api_key_env) if api_key_env else None)
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_id={self.model_id!r}, base_url={self.base_url!r}, "
            f"stream={self.stream!r}, api_key={'***' if self.__api_key else None})"
        )

    @property
    def has_api_key(self) -> bool:
        return bool(self.__api_key)

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config.update(
            base_url=self.base_url,
            stream=self.stream,
            api_key_env=self.api_key_env,
            # Header values may be credentials (``api-key``, ``x-api-key``): names only.
            headers=sorted(self.headers),
            max_connections=self.max_connections,
            extra_body=self.extra_body,
        )
        return config

    # -- connection pool ---------------------------------------------------------------
    async def open(self) -> None:
        """Create the pooled session: keep-alive connections shared by every client."""
        if self._session is not None and not self._session.closed:
            return
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        headers.update(self.headers)
        if self.__api_key:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        connector = aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0)
        self._session = aiohttp.ClientSession(
            connector=connector,
            headers=headers,
            timeout=_NO_TIMEOUT,
            raise_for_status=False,
            cookie_jar=aiohttp.DummyCookieJar(),
        )

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # -- transport -----------------------------------------------------------------------
    async def invoke(self, payload: dict[str, Any]) -> aiohttp.ClientResponse:
        """POST the payload; return the response with its body unread. Non-2xx raises
        ``EndpointHTTPError`` carrying the server's message (the connection goes back to the
        pool once the short error body is read)."""
        session = self._session
        if session is None or session.closed:  # used outside a Runner: open lazily
            await self.open()
            session = self._session
            assert session is not None
        response = await session.post(self.url, data=orjson.dumps(payload))
        if response.status >= 300:
            try:
                body = await response.read()
            finally:
                response.release()
            raise EndpointHTTPError(response.status, self._scrub(error_message(body)))
        return response

    def _scrub(self, text: str) -> str:
        """Remove the API key from text that may be recorded (a server echoing headers)."""
        key = self.__api_key
        return text.replace(key, "***") if key and key in text else text
