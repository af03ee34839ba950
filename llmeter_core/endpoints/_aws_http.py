"""``DirectHTTPSession``: the HTTP/1.1 transport of the AWS endpoints (aiobotocore's
``http_session_cls`` extension point), which puts a request on the wire before it yields.

Why not aiohttp, aiobotocore's default: on Python 3.11 aiohttp writes a request body from a
new task (3.12+ starts that task eagerly), so the bytes leave only after every coroutine
that was ready at that moment has run. When many clients send at once (64 clients in step,
the usual shape of a load test), each request waits for the others' SDK work (~1 ms each)
*inside its own measured time*. Measured at 64 ConverseStream clients (TTFT error p50,
``benchmarks/bedrock_ttft_benchmark.py``): 12-14 ms through aiohttp, 1.2-1.3 ms through this
session. ``send`` writes the request bytes synchronously (``_http1.Connection.send``), so a
request's clock only ever includes its own work.

What it does: keep-alive connections pooled per host (idle ones older than 12 s are
replaced, as aiohttp does, below AWS's 20 s idle cut), at most ``max_pool_connections`` at a
time; TLS with botocore's CA bundle; content-length, chunked and read-until-close bodies;
1xx responses skipped; a request that finds its reused connection closed by the server
before any reply is retried once on a new connection. Errors are botocore's own
(``EndpointConnectionError``, ``ConnectTimeoutError``, ``ReadTimeoutError``,
``ConnectionClosedError``, ``ResponseStreamingError``), so SDK retries and error names work
unchanged. When a proxy applies to a URL (``HTTPS_PROXY``...) the request goes through
aiobotocore's aiohttp session instead.
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Any
from urllib.parse import urlsplit

from ._http1 import Connection, ProtocolError, RawResponse, request_bytes

__all__ = ["DirectHTTPSession"]

_IDLE_LIMIT_S = 12.0


class DirectHTTPSession:
    """aiobotocore ``http_session_cls``: see the module docstring."""

    def __init__(self, verify: Any = True, proxies: dict[str, str] | None = None, timeout: Any = None,
                 max_pool_connections: int = 10, socket_options: Any = None, client_cert: Any = None,
                 proxies_config: dict[str, Any] | None = None, connector_args: dict[str, Any] | None = None):
        from botocore.httpsession import ProxyConfiguration

        self._init_args = dict(verify=verify, proxies=proxies, timeout=timeout,
                               max_pool_connections=max_pool_connections, socket_options=socket_options,
                               client_cert=client_cert, proxies_config=proxies_config,
                               connector_args=connector_args)
        self._verify = verify
        self._client_cert = client_cert
        self._proxy_config = ProxyConfiguration(proxies=proxies, proxies_settings=proxies_config)
        if isinstance(timeout, (list, tuple)):
            self._connect_timeout, self._read_timeout = timeout
        else:
            self._connect_timeout = self._read_timeout = timeout
        self._slots = asyncio.Semaphore(max_pool_connections)
        self._idle: dict[tuple[str, str, int], list[Connection]] = collections.defaultdict(list)
        self._busy: set[Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self._fallback: Any = None

    async def __aenter__(self) -> "DirectHTTPSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.abort()
        for connection in list(self._busy):
            connection.abort()
        self._idle.clear()
        if self._fallback is not None:
            fallback, self._fallback = self._fallback, None
            await fallback.__aexit__(None, None, None)

    # -- pool ------------------------------------------------------------------------------
    def _release(self, connection: Connection) -> None:
        if connection in self._busy:
            self._busy.discard(connection)
            self._slots.release()
            connection.idle_since = time.monotonic()
            self._idle[connection.key].append(connection)

    def _forget(self, connection: Connection) -> None:
        if connection in self._busy:
            self._busy.discard(connection)
            self._slots.release()
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)

    async def prepare(self, url: str) -> None:
        """Build what the first request to ``url`` would otherwise build (the TLS context)."""
        if urlsplit(url).scheme.lower() == "https" and not self._proxy_config.proxy_url_for(url):
            await self._ssl_context()

    async def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = await asyncio.to_thread(self._build_ssl_context)
        return self._ssl

    def _build_ssl_context(self) -> ssl.SSLContext:
        from botocore.httpsession import create_urllib3_context, get_cert_path

        context = create_urllib3_context()
        if self._verify:
            context.check_hostname = True
            ca_certs = get_cert_path(self._verify)
            if ca_certs:
                context.load_verify_locations(ca_certs)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if isinstance(self._client_cert, str):
            context.load_cert_chain(self._client_cert)
        elif isinstance(self._client_cert, tuple):
            context.load_cert_chain(*self._client_cert)
        return context

    async def _connection(self, key: tuple[str, str, int], url: str) -> Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < _IDLE_LIMIT_S:
                self._busy.add(connection)
                return connection
            connection.abort()
        return await self._connect(key, url)

    async def _connect(self, key: tuple[str, str, int], url: str) -> Connection:
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
        from botocore.exceptions import SSLError as BotoSSLError

        scheme, host, port = key
        context = await self._ssl_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(key, self._release, self._forget), host, port, ssl=context,
                    server_hostname=host if context is not None else None)
        except TimeoutError as exc:
            raise ConnectTimeoutError(endpoint_url=url, error=exc) from None
        except ssl.SSLError as exc:
            raise BotoSSLError(endpoint_url=url, error=exc) from None
        except OSError as exc:
            raise EndpointConnectionError(endpoint_url=url, error=exc) from None
        self._busy.add(connection)
        return connection

    # -- the aiobotocore interface ---------------------------------------------------------
    async def send(self, request: Any) -> Any:
        from aiobotocore.awsrequest import AioAWSResponse
        from botocore.exceptions import ConnectionClosedError, ReadTimeoutError

        if self._proxy_config.proxy_url_for(request.url):
            return await (await self._fallback_session()).send(request)
        parts = urlsplit(request.url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        key = (scheme, parts.hostname or "", port)
        data = request_bytes(request, parts)
        read_timeout = _request_read_timeout(request, self._read_timeout)
        await self._slots.acquire()
        holding_slot = True  # a slot not yet owned by a connection (a connection frees its own)
        connection: Connection | None = None
        try:
            for attempt in range(2):
                connection = await self._connection(key, request.url)
                holding_slot = False
                reused = connection.used
                connection.send(data, request.url, request.method, read_timeout)
                try:
                    async with asyncio.timeout(read_timeout):
                        status, headers, body = await connection.response_head()
                    break
                except TimeoutError:
                    raise ReadTimeoutError(endpoint_url=request.url, error="no response within read_timeout") from None
                except (ProtocolError, OSError) as exc:
                    # only a server closing an idle connection is retried: the request was
                    # then never processed (a retry must not send an invocation twice)
                    stale = reused and not connection.got_bytes and not connection.aborted
                    connection.abort()
                    connection = None
                    if stale and attempt == 0:  # the server had closed this idle connection: use a new one
                        await self._slots.acquire()
                        holding_slot = True
                        continue
                    raise ConnectionClosedError(endpoint_url=request.url, error=exc) from None
        except BaseException:
            if holding_slot:
                self._slots.release()
            if connection is not None:
                connection.abort()
            raise
        raw = RawResponse(request.url, status, headers, body, connection)
        response = AioAWSResponse(request.url, status, headers, raw)
        if not request.stream_output:
            await response.content
        return response

    async def _fallback_session(self) -> Any:
        if self._fallback is None:
            from aiobotocore.httpsession import AIOHTTPSession

            self._fallback = AIOHTTPSession(**self._init_args)
            await self._fallback.__aenter__()
        return self._fallback


def _request_read_timeout(request: Any, default: float | None) -> float | None:
    context = getattr(request, "context", None) or {}
    override = context.get("read_timeout") if isinstance(context, dict) else None
    return override if override is not None else default
