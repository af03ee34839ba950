"""HTTP/1.1 on one asyncio connection, as the AWS endpoints' transport needs it.

``Connection.send`` writes a whole request with one ``transport.write`` and returns without
yielding: the bytes are on their way before any other coroutine runs (the point of
``_aws_http.DirectHTTPSession``). The response is parsed as it arrives: status line and
headers (1xx skipped), then a content-length, chunked or read-until-close body fed into a
``Body`` reader that offers what aiobotocore reads (``readany``, ``read``, ``iter_chunks``,
``at_eof``), with flow control past 4 MiB buffered. When a body ends on a keep-alive
connection, the connection reports itself idle (``on_idle``) for the next request; any
close reports ``on_closed``. Connection failures surface as botocore's exceptions
(``ResponseStreamingError`` mid-body, ``ReadTimeoutError``) or ``ProtocolError`` for the
session to translate.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, Callable

__all__ = ["Connection", "Body", "RawResponse", "ProtocolError", "request_bytes"]

_MAX_HEAD_BYTES = 64 * 1024
_PAUSE_BYTES = 4 * 1024 * 1024
_RESUME_BYTES = 1024 * 1024


class ProtocolError(Exception):
    """The server sent something that is not HTTP/1.1 as expected."""


class Body:
    """The response body as aiobotocore reads it (the parts of ``aiohttp.StreamReader`` it uses)."""

    def __init__(self, connection: "Connection", read_timeout: float | None):
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


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes requests, parses responses into ``Body`` readers."""

    def __init__(self, key: tuple[str, str, int], on_idle: Callable[["Connection"], None],
                 on_closed: Callable[["Connection"], None]):
        self.key = key
        self._on_idle = on_idle
        self._on_closed = on_closed
        self.url = ""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self.used = False
        self._buffer = bytearray()
        self._head: asyncio.Future[tuple[int, dict[str, str], Body]] | None = None
        self._body: Body | None = None
        self._mode = "idle"  # idle | head | length | chunk-size | chunk-data | chunk-end | trailers | close
        self._remaining = 0
        self._keep_alive = False
        self._no_body = False
        self._paused = False
        self._read_timeout: float | None = None
        self.got_bytes = False
        self.aborted = False  # closed by this side, not by the server

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._mode == "close" and self._body is not None:
            self._finish()
            return
        error = exc or ProtocolError("the server closed the connection")
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        elif self._body is not None and self._mode != "idle":
            from botocore.exceptions import ResponseStreamingError

            self._body.set_exception(ResponseStreamingError(error=error))
        self._on_closed(self)

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self._parse(data)
        except ProtocolError as exc:
            self._fail(exc)

    # -- requests --------------------------------------------------------------------------
    def send(self, data: bytes, url: str, method: str, read_timeout: float | None) -> None:
        """Write one request now (no yield) and expect its response."""
        self.url, self.used, self.got_bytes = url, True, False
        self._read_timeout = read_timeout
        self._no_body = method == "HEAD"
        self._head = asyncio.get_running_loop().create_future()
        self._mode = "head"
        self._buffer.clear()
        assert self.transport is not None
        self.transport.write(data)

    async def response_head(self) -> tuple[int, dict[str, str], Body]:
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
        """Close at once (our decision: a request cut short, a protocol error, shutdown)."""
        self.aborted = True
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        self._on_closed(self)

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
                        raise ProtocolError("response headers too large")
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
                    raise ProtocolError(f"bad chunk size {line[:20]!r}") from None
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
                    raise ProtocolError("chunk not followed by CRLF")
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
                raise ProtocolError("unexpected data from the server")

    def _start_body(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ProtocolError(f"bad status line {lines[0][:40]!r}")
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
        body = Body(self, self._read_timeout)
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
            self._on_idle(self)

    def _fail(self, exc: Exception) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_exception(exc)
        elif self._body is not None:
            from botocore.exceptions import ResponseStreamingError

            self._body.set_exception(ResponseStreamingError(error=exc))
        self.abort()

    def close_response(self, body: Body) -> None:
        """The reader of ``body`` is done: drop the connection if that body is still being
        received. A body received to its end has left the connection to the pool, where it
        may already serve another request: closing that response must not touch it."""
        if body is self._body:
            self.abort()


class RawResponse:
    """What aiobotocore keeps as ``AioAWSResponse.raw``: ``content``, ``read``, ``close``."""

    def __init__(self, url: str, status: int, headers: dict[str, str], content: Body, connection: Connection):
        self.url = url
        self.status = status
        self.headers = headers
        self.content = content
        self._connection = connection

    async def read(self) -> bytes:
        return await self.content.read()

    def close(self) -> None:
        self._connection.close_response(self.content)

    def release(self) -> None:
        self.close()


def request_bytes(request: Any, parts: Any) -> bytes:
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
