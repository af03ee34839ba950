"""``DirectHTTPSession``: the HTTP/1.1 transport of the AWS endpoints (aiobotocore's
``http_session_cls`` extension point), which puts a request on the wire before it yields.

Why not aiohttp, aiobotocore's default: on Python 3.11 aiohttp writes a request body from a
new task (3.12+ starts that task eagerly), so the bytes leave only after every coroutine
that was ready at that moment has run. When many clients send at once (64 clients in step,
the usual shape of a load test), each request waits for the others' SDK work (~1 ms each)
*inside its own measured time*: TTFT p50 was inflated by ~30-45 ms at 64 ConverseStream
clients. Here ``send`` writes the request bytes synchronously, so a request's clock only
ever includes its own work.

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

__all__ = ["DirectHTTPSession"]

_IDLE_LIMIT_S = 12.0
_MAX_HEAD_BYTES = 64 * 1024
_PAUSE_BYTES = 4 * 1024 * 1024
_RESUME_BYTES = 1024 * 1024


class _ProtocolError(Exception):
    pass


class _Body:
    """The response body as aiobotocore reads it (the parts of ``aiohttp.StreamReader`` it uses)."""

    def __init__(self, connection: "_Connection", read_timeout: float | None):
        self._connection = connection
        self._read_timeout = read_timeout
        self._chunks: collections.deque[bytes] = collections.deque()
        self._size = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None

    # fed by the connection
    def feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > _PAUSE_BYTES:
            self._connection.pause_reading()
        self._wake()

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        self._exc = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # read by aiobotocore and the endpoints
    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def _wait(self) -> None:
        from botocore.exceptions import ReadTimeoutError

        self._waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._read_timeout):
                await self._waiter
        except TimeoutError:
            self._connection.abort()
            raise ReadTimeoutError(endpoint_url=self._connection.url, error="no data within read_timeout") from None
        finally:
            self._waiter = None

    def _take(self, limit: int = -1) -> bytes:
        if limit < 0 or limit >= self._size:
            data = b"".join(self._chunks) if len(self._chunks) != 1 else self._chunks[0]
            self._chunks.clear()
        else:
            joined = b"".join(self._chunks)
            data, rest = joined[:limit], joined[limit:]
            self._chunks.clear()
            self._chunks.append(rest)
        self._size -= len(data)
        if self._size < _RESUME_BYTES and not self._eof:  # after EOF the connection serves others
            self._connection.resume_reading()
        return data

    async def readany(self) -> bytes:
        """The bytes received so far (waiting for some); ``b""`` at the end."""
        while not self._chunks:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return b""
            await self._wait()
        return self._take()

    async def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            while not self._eof:
                if self._exc is not None:
                    raise self._exc
                await self._wait()
            return self._take()
        if n == 0:
            return b""
        while not self._chunks:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return b""
            await self._wait()
        return self._take(n)

    async def iter_chunks(self):
        while True:
            data = await self.readany()
            if not data:
                return
            yield data, True


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes requests, parses responses into ``_Body`` readers."""

    def __init__(self, session: "DirectHTTPSession", key: tuple[str, str, int]):
        self.session = session
        self.key = key
        self.url = ""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.used = False
        self._buffer = bytearray()
        self._head: asyncio.Future[tuple[int, dict[str, str], _Body]] | None = None
        self._body: _Body | None = None
        self._mode = "idle"  # idle | head | length | chunk-size | chunk-data | chunk-end | trailers | close
        self._remaining = 0
        self._keep_alive = False
        self._no_body = False
        self._paused = False
        self._read_timeout: float | None = None
        self.got_bytes = False
        self.generation = 0  # requests sent so far: tells a finished response from the current one

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._mode == "close" and self._body is not None:
            self._finish()
            return
        error = exc or _ProtocolError("the server closed the connection")
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        elif self._body is not None and self._mode != "idle":
            from botocore.exceptions import ResponseStreamingError

            self._body.set_exception(ResponseStreamingError(error=error))
        self.session._forget(self)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self._parse(data)
        except _ProtocolError as exc:
            self._fail(exc)

    # -- requests --------------------------------------------------------------------------
    def send(self, data: bytes, url: str, method: str, read_timeout: float | None) -> None:
        """Write one request now (no yield) and expect its response."""
        self.url, self.used, self.got_bytes = url, True, False
        self.generation += 1
        self._read_timeout = read_timeout
        self._no_body = method == "HEAD"
        self._head = asyncio.get_running_loop().create_future()
        self._mode = "head"
        self._buffer.clear()
        assert self.transport is not None
        self.transport.write(data)

    async def response_head(self) -> tuple[int, dict[str, str], _Body]:
        assert self._head is not None
        return await self._head

    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        self.session._forget(self)

    # -- response parsing ------------------------------------------------------------------
    def _parse(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        while buffer:
            mode = self._mode
            if mode == "head":
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > _MAX_HEAD_BYTES:
                        raise _ProtocolError("response headers too large")
                    return
                head = bytes(buffer[:end])
                del buffer[:end + 4]
                self._start_body(head)
            elif mode == "length":
                take = min(self._remaining, len(buffer))
                self._body.feed(bytes(buffer[:take]))  # type: ignore[union-attr]
                del buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._finish()
            elif mode == "chunk-size":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(buffer[:end]).split(b";", 1)[0].strip()
                del buffer[:end + 2]
                try:
                    self._remaining = int(line, 16)
                except ValueError:
                    raise _ProtocolError(f"bad chunk size {line[:20]!r}") from None
                self._mode = "chunk-data" if self._remaining else "trailers"
            elif mode == "chunk-data":
                take = min(self._remaining, len(buffer))
                self._body.feed(bytes(buffer[:take]))  # type: ignore[union-attr]
                del buffer[:take]
                self._remaining -= take
                if not self._remaining:
                    self._mode = "chunk-end"
            elif mode == "chunk-end":
                if len(buffer) < 2:
                    return
                if buffer[:2] != b"\r\n":
                    raise _ProtocolError("chunk not followed by CRLF")
                del buffer[:2]
                self._mode = "chunk-size"
            elif mode == "trailers":
                end = buffer.find(b"\r\n")
                if end < 0:
                    return
                del buffer[:end + 2]
                if end == 0:
                    self._finish()
            elif mode == "close":
                self._body.feed(bytes(buffer))  # type: ignore[union-attr]
                buffer.clear()
            else:  # bytes nobody asked for
                raise _ProtocolError("unexpected data from the server")

    def _start_body(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise _ProtocolError(f"bad status line {lines[0][:40]!r}")
        status = int(parts[1])
        if 100 <= status < 200 and status != 101:
            return  # 100 Continue and friends: the real response follows
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower().decode("latin-1")
            text = value.strip().decode("latin-1")
            headers[key] = f"{headers[key]}, {text}" if key in headers else text
        self._keep_alive = parts[0] == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
        body = _Body(self, self._read_timeout)
        self._body = body
        if self._no_body or status in (204, 304):
            self._mode = "length"
            self._remaining = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._mode = "chunk-size"
        elif "content-length" in headers:
            self._mode = "length"
            self._remaining = int(headers["content-length"])
        else:
            self._mode = "close"
            self._keep_alive = False
        assert self._head is not None
        self._head.set_result((status, headers, body))
        if self._mode == "length" and not self._remaining:
            self._finish()

    def _finish(self) -> None:
        body, self._body = self._body, None
        self._mode = "idle"
        if body is not None:
            body.feed_eof()
        if self._buffer or not self._keep_alive or self.closed:
            self.abort()
        else:
            self.session._release(self)

    def _fail(self, exc: Exception) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_exception(exc)
        elif self._body is not None:
            from botocore.exceptions import ResponseStreamingError

            self._body.set_exception(ResponseStreamingError(error=exc))
        self.abort()

    def close_response(self, generation: int) -> None:
        """The reader of request ``generation`` is done: drop the connection if that response
        was not read to the end. A response read to the end left the connection to the pool,
        where it may already serve another request: closing it then must not touch it."""
        if generation == self.generation and self._mode != "idle":
            self.abort()


class _RawResponse:
    """What aiobotocore keeps as ``AioAWSResponse.raw``: ``content``, ``read``, ``close``."""

    def __init__(self, url: str, status: int, headers: dict[str, str], content: _Body, connection: _Connection):
        self.url = url
        self.status = status
        self.headers = headers
        self.content = content
        self._connection = connection
        self._generation = connection.generation

    async def read(self) -> bytes:
        return await self.content.read()

    def close(self) -> None:
        self._connection.close_response(self._generation)

    def release(self) -> None:
        self.close()


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
        self._idle: dict[tuple[str, str, int], list[_Connection]] = collections.defaultdict(list)
        self._busy: set[_Connection] = set()
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
    def _release(self, connection: _Connection) -> None:
        if connection in self._busy:
            self._busy.discard(connection)
            self._slots.release()
            connection.idle_since = time.monotonic()
            self._idle[connection.key].append(connection)

    def _forget(self, connection: _Connection) -> None:
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

    async def _connection(self, key: tuple[str, str, int], url: str) -> _Connection:
        idle = self._idle.get(key)
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < _IDLE_LIMIT_S:
                self._busy.add(connection)
                return connection
            connection.abort()
        return await self._connect(key, url)

    async def _connect(self, key: tuple[str, str, int], url: str) -> _Connection:
        from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError
        from botocore.exceptions import SSLError as BotoSSLError

        scheme, host, port = key
        context = await self._ssl_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: _Connection(self, key), host, port, ssl=context,
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
        data = _request_bytes(request, parts)
        read_timeout = _request_read_timeout(request, self._read_timeout)
        await self._slots.acquire()
        holding_slot = True  # a slot not yet owned by a connection (a connection frees its own)
        connection: _Connection | None = None
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
                except (_ProtocolError, OSError) as exc:
                    stale = reused and not connection.got_bytes
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
        raw = _RawResponse(request.url, status, headers, body, connection)
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


def _request_bytes(request: Any, parts: Any) -> bytes:
    body = request.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{request.method} {target} HTTP/1.1"]
    names = set()
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in ("expect", "transfer-encoding", "content-length", "host"):
            continue
        names.add(lower)
        lines.append(f"{name}: {value.decode() if isinstance(value, bytes) else value}")
    host = parts.netloc.rsplit("@", 1)[-1]
    default_port = ":443" if parts.scheme.lower() == "https" else ":80"
    if host.endswith(default_port):  # as botocore signs it
        host = host[:-len(default_port)]
    lines.append(f"Host: {host}")
    if body or request.method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + bytes(body)


def _request_read_timeout(request: Any, default: float | None) -> float | None:
    context = getattr(request, "context", None) or {}
    override = context.get("read_timeout") if isinstance(context, dict) else None
    return override if override is not None else default
