"""The two HTTP clients of the OpenAI-compatible endpoints, behind one small interface.

An endpoint holds one ``HTTPTransport`` (``TRANSPORTS[http_client]``) and only calls
``open(prewarm)``, ``post(body)`` and ``aclose()``; ``post`` returns a ``sse.Response`` whose
body is read the same way whichever client fetched it.

- ``DirectTransport`` (``http_client: direct``, the default): the project's HTTP/1.1 client
  (``pool.ConnectionPool``). The whole request, one head built once (``http1.request_head``) plus
  the JSON body, is written before the caller first yields, and every network read is stamped
  on arrival. It does not go through proxies: when a proxy environment variable applies to the
  URL it refuses it (``ConfigError`` on ``endpoint.http_client``) rather than bypass the proxy.
- ``AiohttpTransport`` (``http_client: aiohttp``): aiohttp, through the proxy the environment
  sets for the URL (``HTTP(S)_PROXY``/``ALL_PROXY``/``NO_PROXY``, looked up once in ``open``).

Why the direct client exists, with the figures: ``docs/transport.md``. Neither client
retries: a 429 is recorded as a 429 (``pool`` has the one exception, a request that provably
never left); aiohttp resends only idempotent methods on a reused connection, never these POSTs.

``HTTP_CLIENTS`` names the choices, here and for the AWS endpoints (where ``direct`` is
``aws_session.DirectHTTPSession`` and ``aiohttp`` aiobotocore's own session).
"""

from __future__ import annotations

import asyncio
import logging
import typing
import urllib.request
import warnings
from abc import ABC, abstractmethod
from typing import Any, Awaitable, Callable, Literal
from urllib.parse import urlsplit

from ...clock import now_ns
from ...errors import ConfigError
from .http1 import origin_key, request_head
from .pool import ConnectionPool
from .sse import Response

__all__ = [
    "HttpClient",
    "HTTP_CLIENTS",
    "HTTPTransport",
    "DirectTransport",
    "AiohttpTransport",
    "TRANSPORTS",
    "environment_proxy",
]

logger = logging.getLogger(__name__)

#: The HTTP clients an endpoint can use (its ``http_client`` option; ``typed_options`` checks it).
HttpClient = Literal["direct", "aiohttp"]
HTTP_CLIENTS: tuple[str, ...] = typing.get_args(HttpClient)

#: Idle keep-alive connections older than this are replaced, not reused: common servers close
#: them after 5 s (uvicorn, node), and a request sent on a closing connection costs a retry.
_IDLE_LIMIT_S = 4.0

#: ``open()`` gives up pre-opening connections after this long (the requests then record the
#: failure themselves).
_PREWARM_TIMEOUT_S = 10.0


def environment_proxy(url: str) -> str | None:
    """The proxy URL the environment sets for ``url`` (``HTTP_PROXY``, ``HTTPS_PROXY``,
    ``ALL_PROXY``, less ``NO_PROXY``, as urllib decides), or None."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.netloc.rsplit("@", 1)[-1]):
        return None
    return proxy


class HTTPTransport(ABC):
    """POSTs to one URL with fixed headers, over a pool of at most ``max_connections``
    connections (0: no limit). ``redact`` cleans the texts it logs."""

    #: True until ``open`` and after ``aclose``.
    closed: bool = True

    def __init__(self, url: str, headers: dict[str, str], max_connections: int, redact: Callable[[str], str]):
        self._url = url
        self._headers = headers
        self._max_connections = max_connections
        self._redact = redact

    @abstractmethod
    async def open(self, prewarm: int) -> None:
        """Create the pool and pre-open ``prewarm`` connections (an unreachable server is not
        an error here: each request records it)."""

    @abstractmethod
    def post(self, body: bytes) -> Awaitable[Response]:
        """POST ``body`` (JSON); the response once its head arrived, body unread."""

    @abstractmethod
    async def aclose(self) -> None:
        """Close every connection."""


class DirectTransport(HTTPTransport):
    """The project's HTTP/1.1 client (see the module docstring)."""

    def __init__(self, url: str, headers: dict[str, str], max_connections: int, redact: Callable[[str], str]):
        super().__init__(url, headers, max_connections, redact)
        parts = urlsplit(url)
        if environment_proxy(url):
            raise ConfigError(
                "endpoint.http_client",
                f"a proxy from the environment (HTTP_PROXY/HTTPS_PROXY/ALL_PROXY, not excluded by "
                f"NO_PROXY) applies to {parts.hostname}, and the direct client does not use proxies: "
                f"set http_client: aiohttp to go through the proxy, or add the host to NO_PROXY",
            )
        self._key = origin_key(parts)
        # a request is this head, its length and the body, in one bytes formatting
        self._head = (request_head("POST", parts, headers.items()) + "Content-Length: ").encode("utf-8")
        self._pool: ConnectionPool | None = None

    async def open(self, prewarm: int) -> None:
        """The pool, with ``prewarm`` connections opened (TCP and TLS, no request sent)."""
        if not self.closed:
            return
        pool = self._pool = ConnectionPool(max_connections=self._max_connections, idle_limit_s=_IDLE_LIMIT_S)
        self.closed = False
        if not prewarm:
            return
        try:
            async with asyncio.timeout(_PREWARM_TIMEOUT_S):
                await pool.prewarm(self._key, self._url, prewarm)
        except (OSError, TimeoutError) as exc:
            logger.debug("%s", self._redact(f"could not pre-open {prewarm} connection(s) to {self._url}: {exc!r}"))

    def post(self, body: bytes) -> Awaitable[Response]:
        """The pool's request coroutine itself (no frame of its own): with an idle connection
        at hand, the bytes are written before the caller first yields."""
        pool = self._pool
        assert pool is not None, "open() first"
        return pool.request(self._key, self._url, b"%b%d\r\n\r\n%b" % (self._head, len(body), body))

    async def aclose(self) -> None:
        pool, self._pool = self._pool, None
        self.closed = True
        if pool is not None:
            await pool.close()


class AiohttpTransport(HTTPTransport):
    """aiohttp through the environment's proxy (see the module docstring)."""

    def __init__(self, url: str, headers: dict[str, str], max_connections: int, redact: Callable[[str], str]):
        super().__init__(url, headers, max_connections, redact)
        self._session: Any = None  # aiohttp.ClientSession
        self._proxy_options: dict[str, Any] = {}  # its proxy settings, from the environment

    async def open(self, prewarm: int) -> None:
        """The session, and ``prewarm`` connections opened by as many ``HEAD /`` requests:
        aiohttp has no way to open a connection without a request (no model is invoked; the
        replies are ignored)."""
        if not self.closed:
            return
        import aiohttp
        from yarl import URL

        # The proxy is looked up once, here, and set as the session's default: aiohttp's
        # ``trust_env`` would look it up (and read ~/.netrc) in a thread on every request,
        # ~0.7 ms of CPU and latency each.
        proxy: Any = environment_proxy(self._url)
        proxy_auth = None
        with warnings.catch_warnings():  # aiohttp 3.14 deprecates BasicAuth for 4.0; the
            warnings.simplefilter("ignore", DeprecationWarning)  # replacement is https-only
            if proxy:
                proxy = URL(proxy)
                if proxy.user:
                    proxy_auth = aiohttp.BasicAuth(proxy.user, proxy.password or "")
                    proxy = proxy.with_user(None)
            self._proxy_options = dict(proxy=proxy or None, proxy_auth=proxy_auth)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._max_connections, limit_per_host=0),
                headers=self._headers,
                # no aiohttp timers: the per-request timeout is Endpoint.call's, and each
                # aiohttp timer would cost CPU on every request for nothing
                timeout=aiohttp.ClientTimeout(total=None, connect=None, sock_read=None, sock_connect=None),
                raise_for_status=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                **self._proxy_options,
            )
        self.closed = False
        await self._prewarm(prewarm)

    async def _prewarm(self, count: int) -> None:
        """``count`` concurrent ``HEAD /`` requests on the server's origin, leaving their
        connections idle in the session's pool. They go through a session of their own on the
        same connector (same proxy), so they carry none of the API's headers: no API key."""
        import aiohttp

        if not count:
            return
        origin = urlsplit(self._url)._replace(path="/", query="", fragment="").geturl()
        with warnings.catch_warnings():  # proxy_auth: see open
            warnings.simplefilter("ignore", DeprecationWarning)
            warm = aiohttp.ClientSession(
                connector=self._session.connector,
                connector_owner=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                **self._proxy_options,
            )

        async def one() -> None:
            async with warm.head(origin, allow_redirects=False) as response:
                await response.read()

        results: list[Any]
        try:
            async with asyncio.timeout(_PREWARM_TIMEOUT_S):
                results = await asyncio.gather(*(one() for _ in range(count)), return_exceptions=True)
        except TimeoutError as exc:
            results = [exc]
        finally:
            await warm.close()
        for result in results:
            if isinstance(result, Exception):
                logger.debug("%s", self._redact(f"could not pre-open a connection to {self._url}: {result!r}"))

    async def post(self, body: bytes) -> Response:
        return _AiohttpResponse(await self._session.post(self._url, data=body))

    async def aclose(self) -> None:
        session, self._session = self._session, None
        self.closed = True
        if session is not None and not session.closed:
            await session.close()


class _AiohttpBody:
    """An aiohttp body as a ``sse.StampedBody``: each piece stamped as it is handed over."""

    __slots__ = ("_response", "_readany", "last_arrival_ns")

    def __init__(self, response: Any):
        self._response = response
        self._readany = response.content.readany
        self.last_arrival_ns = 0

    async def read_stamped(self) -> tuple[int, bytes]:
        data = await self._readany()
        return now_ns(), data

    async def read(self) -> bytes:
        data = await self._response.read()
        self.last_arrival_ns = now_ns()
        return data


class _AiohttpResponse:
    """An ``aiohttp.ClientResponse`` as a ``sse.Response``."""

    __slots__ = ("_response", "status", "content")

    def __init__(self, response: Any):
        self._response = response
        self.status: int = response.status
        self.content = _AiohttpBody(response)

    def release(self) -> None:
        self._response.release()


#: ``http_client`` -> its transport class.
TRANSPORTS: dict[str, type[HTTPTransport]] = {"direct": DirectTransport, "aiohttp": AiohttpTransport}
