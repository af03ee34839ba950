"""HTTP plumbing shared by the OpenAI-compatible endpoints: the transport (the project's
direct HTTP/1.1 client by default, aiohttp on request), request sending, error mapping and a
lean server-sent-events reader.

Why not the ``openai`` SDK: it builds a pydantic object for every stream chunk on top of
httpx's own per-request machinery. That is client CPU spent on every token, on the very event
loop that timestamps the tokens, so under load the measured time to first token grows with
the number of clients (LLMeter 0.2.0, SDK + threads: 14.5 CPU-ms per 50-token request, TTFT
inflated ~250 ms at 64 clients).

Why not aiohttp by default (``http_client="direct"``, ``_pool.ConnectionPool``): on Python
3.11 aiohttp writes a request from a new task, so when 64 clients send together a request's
bytes leave only after the rest of the burst has been processed, and that wait lands inside
its measured time to first token; aiohttp also costs ~145 us of CPU per request. The direct
client writes the whole request (one precomputed head + the JSON body) with one
``transport.write`` before the caller first yields, reuses keep-alive connections, and stamps
each network read with ``now_ns()`` as it arrives (``Body.read_stamped``), so a token's time
excludes both this client's parsing and the loop's queue of other clients. It does not go
through proxies: when a proxy environment variable applies to ``base_url``, ``__init__``
refuses it (``ConfigError`` on ``endpoint.http_client``) rather than bypass the proxy
silently; ``http_client="aiohttp"`` goes through the proxy the environment sets for
``base_url`` (``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY``, looked up once in ``open``).

Nothing retries: a load tester must record a 429 as a 429 and a dropped connection as a
failure, not hide them behind a resend (see ``_pool`` for the one exception, a request that
provably never left). aiohttp resends only idempotent methods on a reused connection, never
these POSTs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import urllib.request
from typing import Any
from urllib.parse import urlsplit

import orjson

from ..errors import ConfigError
from .transport.pool import ConnectionPool
from .transport.sse import read_body, sse_events
from .base import Endpoint, check_prewarm, prewarm_count

__all__ = [
    "EndpointHTTPError",
    "StreamError",
    "OpenAICompatibleEndpoint",
    "HTTP_CLIENTS",
    "sse_events",
    "read_body",
    "describe_error",
    "error_message",
    "trim_message",
]

logger = logging.getLogger(__name__)

_dumps = orjson.dumps

#: Longest server error message kept in an error response (bodies can be whole HTML pages).
MAX_ERROR_CHARS = 300

#: No aiohttp timers (``http_client="aiohttp"``): the per-request timeout is
#: ``Endpoint.call``'s, and each aiohttp timer would cost CPU on every request for nothing.
_NO_TIMEOUT_ARGS = dict(total=None, connect=None, sock_read=None, sock_connect=None)

#: Idle keep-alive connections older than this are replaced, not reused: common servers close
#: them after 5 s (uvicorn, node), and a request sent on a closing connection costs a retry.
_IDLE_LIMIT_S = 4.0

#: ``open()`` gives up pre-opening a connection after this long (the requests then record
#: the failure themselves).
_PREWARM_TIMEOUT_S = 10.0

HTTP_CLIENTS = ("direct", "aiohttp")


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


def environment_proxy(url: str) -> str | None:
    """The proxy URL the environment sets for ``url`` (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, less ``NO_PROXY``, as urllib decides), or None."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.netloc.rsplit("@", 1)[-1]):
        return None
    return proxy


class OpenAICompatibleEndpoint(Endpoint):
    """What the Chat Completions and Responses endpoints share: settings, the API key, the
    transport, the POST and the mapping of HTTP errors.

    ``http_client``: ``"direct"`` (default; the project's HTTP/1.1 client, see the module
    docstring) or ``"aiohttp"`` (the choice behind a proxy). ``max_connections`` caps the
    pooled connections (0: no cap).

    The API key is read once (argument, else the ``api_key_env`` environment variable), kept
    in private attributes only (the precomputed request head, the aiohttp session's default
    headers): it is never part of ``to_config()`` or ``repr()``, and it, the header values and
    a password in ``base_url`` are registered secrets (``Endpoint.add_secret``): a server
    echoing one in an error never gets it into an error text.
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
        http_client: str = "direct",
        prewarm_connections: int | None = None,
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
        for name, value in (headers or {}).items():
            if any(c in f"{name}{value}" for c in "\r\n\0") or not str(name).strip() or ":" in str(name):
                raise ConfigError("endpoint.headers", f"invalid header {name!r} (line breaks, ':' or empty name)")
        if http_client not in HTTP_CLIENTS:
            raise ConfigError("endpoint.http_client", f"must be one of {HTTP_CLIENTS}, got {http_client!r}")
        check_prewarm(prewarm_connections, max_connections, "max_connections")
        self.base_url = base_url.rstrip("/")
        self.url = self.base_url + self.api_path
        parts = urlsplit(self.url)
        try:
            port = parts.port
        except ValueError:
            raise ConfigError("endpoint.base_url", f"has an invalid port: {base_url!r}") from None
        if not parts.hostname:
            raise ConfigError("endpoint.base_url", f"has no host: {base_url!r}")
        if http_client == "direct" and environment_proxy(self.url):
            raise ConfigError(
                "endpoint.http_client",
                f"a proxy from the environment (HTTP_PROXY/HTTPS_PROXY/ALL_PROXY, not excluded by "
                f"NO_PROXY) applies to {parts.hostname}, and the direct client does not use proxies: "
                f"set http_client: aiohttp to go through the proxy, or add the host to NO_PROXY")
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
        scheme = parts.scheme.lower()
        self._key = (scheme, parts.hostname, port or (443 if scheme == "https" else 80))
        self.__head = self._request_head(parts)
        self._pool: ConnectionPool | None = None
        self._session: Any = None  # aiohttp.ClientSession when http_client == "aiohttp"
        self._proxy_options: dict[str, Any] = {}  # its proxy settings, from the environment

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
        if self.__api_key and "authorization" not in lower:
            headers["Authorization"] = f"Bearer {self.__api_key}"
        return headers

    def _request_head(self, parts: Any) -> bytes:
        """Everything of a POST before the body's length, built once: a request is then this
        head, the length and the JSON body, in one ``bytes`` formatting."""
        host = parts.netloc.rsplit("@", 1)[-1]
        headers = self._headers()
        lines = [f"POST {parts.path or '/'}{'?' + parts.query if parts.query else ''} HTTP/1.1"]
        names = {name.lower() for name in headers}
        if "host" not in names:
            lines.append(f"Host: {host}")
        if "user-agent" not in names:
            lines.append("User-Agent: llmeter-flows")
        if "accept-encoding" not in names:
            lines.append("Accept-Encoding: identity")  # bodies are read as sent: no decompression
        lines.extend(f"{name}: {value}" for name, value in headers.items() if name.lower() != "content-length")
        lines.append("Content-Length: ")
        return "\r\n".join(lines).encode("utf-8")

    # -- connection pool ---------------------------------------------------------------
    async def open(self, clients: int = 1) -> None:
        """Create the connection pool and pre-open one connection per client (``prewarm_count``,
        TLS context included), so no client's first request pays for a connect or a
        handshake. The direct client only connects; aiohttp, which has no way to open a
        connection without a request, sends one ``HEAD /`` per connection (no model is
        invoked; the replies are ignored). An unreachable server is not an error here: each
        request records it."""
        count = prewarm_count(self.prewarm_connections, clients, self.max_connections)
        if self.http_client == "aiohttp":
            if self._session is None or self._session.closed:
                await self._open_aiohttp()
                await self._prewarm_aiohttp(count)
            return
        if self._pool is not None and not self._pool.closed:
            return
        pool = ConnectionPool(max_connections=self.max_connections, idle_limit_s=_IDLE_LIMIT_S)
        self._pool = pool
        if not count:
            return
        try:
            async with asyncio.timeout(_PREWARM_TIMEOUT_S):
                await pool.prewarm(self._key, self.url, count)
        except (OSError, TimeoutError) as exc:
            logger.debug("could not pre-open %d connection(s) to %s: %s", count, self.base_url, self.redact(repr(exc)))

    async def _prewarm_aiohttp(self, count: int) -> None:
        """``count`` concurrent ``HEAD /`` requests on the server's origin, leaving their
        connections idle in the session's pool. They go through a session of their own on the
        same connector (same proxy), so they carry none of the API's headers: no API key."""
        import warnings

        import aiohttp

        if not count:
            return
        origin = urlsplit(self.url)._replace(path="/", query="", fragment="").geturl()
        with warnings.catch_warnings():  # proxy_auth: see _open_aiohttp
            warnings.simplefilter("ignore", DeprecationWarning)
            warm = aiohttp.ClientSession(connector=self._session.connector, connector_owner=False,
                                         cookie_jar=aiohttp.DummyCookieJar(), **self._proxy_options)

        async def one() -> None:
            async with warm.head(origin, allow_redirects=False) as response:
                await response.read()

        try:
            async with asyncio.timeout(_PREWARM_TIMEOUT_S):
                results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        except TimeoutError as exc:
            results = [exc]
        finally:
            await warm.close()
        for result in results:
            if isinstance(result, Exception):
                logger.debug("could not pre-open a connection to %s: %s", self.base_url, self.redact(repr(result)))

    async def _open_aiohttp(self) -> None:
        import aiohttp

        if self._session is not None and not self._session.closed:
            return
        import warnings

        from yarl import URL

        # The proxy is looked up once, here, and set as the session's default: aiohttp's
        # ``trust_env`` would look it up (and read ~/.netrc) in a thread on every request,
        # ~0.7 ms of CPU and latency each.
        proxy: Any = environment_proxy(self.url)
        proxy_auth = None
        with warnings.catch_warnings():  # aiohttp 3.14 deprecates BasicAuth for 4.0; the
            warnings.simplefilter("ignore", DeprecationWarning)  # replacement is https-only
            if proxy:
                proxy = URL(proxy)
                if proxy.user:
                    proxy_auth = aiohttp.BasicAuth(proxy.user, proxy.password or "")
                    proxy = proxy.with_user(None)
            # HTTP(S)_PROXY / NO_PROXY: the reason to choose this client
            self._proxy_options = dict(proxy=proxy or None, proxy_auth=proxy_auth)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.max_connections, limit_per_host=0),
                headers=self._headers(),
                timeout=aiohttp.ClientTimeout(**_NO_TIMEOUT_ARGS),
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                **self._proxy_options,
            )

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    # -- transport -----------------------------------------------------------------------
    async def invoke(self, payload: dict[str, Any]) -> Any:
        """POST the payload; return the response with its body unread (``status``,
        ``content``, ``release()``). Non-2xx raises ``EndpointHTTPError`` carrying the
        server's message (the connection goes back to the pool once the short error body is
        read). On the direct client the request is written before this coroutine yields."""
        pool = self._pool
        if pool is None:
            if self.http_client == "aiohttp":
                return await self._invoke_aiohttp(payload)
            await self.open()  # used outside a Runner: open lazily
            pool = self._pool
            assert pool is not None
        body = _dumps(payload)
        response = await pool.request(self._key, self.url, b"%b%d\r\n\r\n%b" % (self.__head, len(body), body))
        if response.status >= 300:
            _, data = await read_body(response)
            raise EndpointHTTPError(response.status, error_message(data))
        return response

    async def _invoke_aiohttp(self, payload: dict[str, Any]) -> Any:
        session = self._session
        if session is None or session.closed:
            await self._open_aiohttp()
            session = self._session
        response = await session.post(self.url, data=_dumps(payload))
        if response.status >= 300:
            _, data = await read_body(response)
            raise EndpointHTTPError(response.status, error_message(data))
        return response

