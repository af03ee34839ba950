"""What the OpenAI-compatible endpoints share: settings, the API key, the POST over the chosen
HTTP client (``transport.clients``), and the mapping of HTTP errors.

Why not the ``openai`` SDK: it builds a pydantic object for every stream chunk on top of
httpx's own per-request machinery. That is client CPU spent on every token, on the very event
loop that timestamps the tokens, so under load the measured time to first token grows with
the number of clients (LLMeter 0.2.0, SDK + threads: 14.5 CPU-ms per 50-token request, TTFT
inflated ~250 ms at 64 clients). Why the direct HTTP/1.1 client is the default rather than
aiohttp: ``docs/transport.md``.

Nothing retries: a load tester must record a 429 as a 429 and a dropped connection as a
failure, not hide them behind a resend.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..checks import check_int
from ..errors import ConfigError
from .base import Endpoint, check_prewarm, prewarm_count, public_url
from .transport.clients import TRANSPORTS, HttpClient, HTTPTransport
from .transport.sse import Response, read_body

__all__ = [
    "EndpointHTTPError",
    "StreamError",
    "OpenAICompatibleEndpoint",
    "describe_error",
    "error_message",
    "trim_message",
]

_dumps = orjson.dumps

#: Longest server error message kept in an error response (bodies can be whole HTML pages).
MAX_ERROR_CHARS = 300


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


class OpenAICompatibleEndpoint(Endpoint):
    """What the Chat Completions and Responses endpoints share: settings, the API key, the
    transport, the POST and the mapping of HTTP errors.

    ``http_client``: ``"direct"`` (default; the project's HTTP/1.1 client) or ``"aiohttp"``
    (the choice behind a proxy), see ``transport.clients``. ``max_connections`` caps the
    pooled connections (0: no cap).

    The API key is read once (argument, else the ``api_key_env`` environment variable), kept
    in private attributes only (the transport's headers): it is never part of ``to_config()``
    or ``repr()``, and it, the header values and a password in ``base_url`` are registered
    secrets (``Endpoint.add_secret``): a server echoing one in an error never gets it into an
    error text.
    """

    #: Path appended to ``base_url``, e.g. ``/chat/completions``.
    api_path: str = ""
    #: The header carrying the API key and the text before the key (Anthropic: ``x-api-key``).
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "

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
        http_client: HttpClient = "direct",
        prewarm_connections: int | None = None,
    ):
        super().__init__(model_id=model_id, endpoint_name=endpoint_name, provider=provider)
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError("endpoint.base_url", f"must be an http(s) URL, got {base_url!r}")
        check_int("endpoint.max_connections", max_connections, 0)
        for name, value in (headers or {}).items():
            if any(c in f"{name}{value}" for c in "\r\n\0") or not str(name).strip() or ":" in str(name):
                raise ConfigError("endpoint.headers", f"invalid header {name!r} (line breaks, ':' or empty name)")
        check_prewarm(prewarm_connections, max_connections, "max_connections")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + self.api_path
        parts = urlsplit(self.url)
        try:
            _ = parts.port  # a port that is not a number in range raises ValueError
        except ValueError:
            raise ConfigError("endpoint.base_url", f"has an invalid port: {base_url!r}") from None
        if not parts.hostname:
            raise ConfigError("endpoint.base_url", f"has no host: {base_url!r}")
        self.stream = bool(stream)
        self.api_key_env = api_key_env
        self.headers = dict(headers or {})
        self.max_connections = max_connections
        self.extra_body = dict(extra_body or {})
        self.http_client = http_client
        self.prewarm_connections = prewarm_connections
        self.__api_key = api_key if api_key is not None else (os.environ.get(api_key_env) if api_key_env else None)
        if self.__api_key and any(c in self.__api_key for c in "\r\n\0"):
            raise ConfigError("endpoint.api_key", "contains a line break or NUL (the key is not shown)")
        self.add_secret(self.__api_key)
        self.add_header_secrets(self.headers)
        self.add_secret(parts.password)
        self._transport: HTTPTransport = TRANSPORTS[http_client](
            self.url, self._headers(), max_connections, self.redact
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(model_id={self.model_id!r}, base_url={public_url(self.base_url)!r}, "
            f"stream={self.stream!r}, api_key={'***' if self.__api_key else None})"
        )

    @property
    def has_api_key(self) -> bool:
        return bool(self.__api_key)

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config.update(
            base_url=public_url(self.base_url),  # a password in it is a secret
            stream=self.stream,
            api_key_env=self.api_key_env,
            # Header values may be credentials (``api-key``, ``x-api-key``): names only.
            headers=sorted(self.headers),
            max_connections=self.max_connections,
            extra_body=self.extra_body,
            http_client=self.http_client,
            prewarm_connections=self.prewarm_connections,
        )
        return config

    def _headers(self) -> dict[str, str]:
        """Headers of every request: defaults, the user's (which win), the API key."""
        headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
        lower = {name.lower() for name in self.headers}
        headers = {name: value for name, value in headers.items() if name.lower() not in lower}
        headers.update(self.headers)
        if self.__api_key and self.auth_header.lower() not in lower:
            headers[self.auth_header] = f"{self.auth_prefix}{self.__api_key}"
        return headers

    # -- connection pool ---------------------------------------------------------------
    async def open(self, clients: int = 1) -> None:
        """Open the transport with one connection per client pre-opened (``prewarm_count``,
        TLS context included), so no client's first request pays for a connect or a
        handshake."""
        await self._transport.open(prewarm_count(self.prewarm_connections, clients, self.max_connections))

    async def aclose(self) -> None:
        await self._transport.aclose()

    # -- the request ----------------------------------------------------------------------
    async def invoke(self, payload: dict[str, Any]) -> Response:
        """POST the payload; return the response with its body unread (``status``,
        ``content``, ``release()``). Non-2xx raises ``EndpointHTTPError`` carrying the
        server's message (the connection goes back to the pool once the short error body is
        read). On the direct client the request is written before this coroutine yields."""
        transport = self._transport
        if transport.closed:
            await self.open()  # used outside a Runner: open lazily
        response = await transport.post(_dumps(payload))
        if response.status >= 300:
            _, data = await read_body(response)
            raise EndpointHTTPError(response.status, error_message(data))
        return response
