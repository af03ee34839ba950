"""HTTP/1.1 on one asyncio connection: the project's own client, used by every endpoint
that talks HTTP directly (the OpenAI endpoints, and the AWS endpoints through aiobotocore).

``Connection.send`` writes a whole request with one ``transport.write`` and returns without
yielding: the bytes are on their way before any other coroutine runs. (aiohttp on Python
3.11 writes from a new task, so under a burst of clients a request leaves only after every
ready coroutine has run, and that wait lands inside its measured time.)

The response is parsed as it arrives, in ``data_received``: status line and headers (1xx
skipped), then a content-length, chunked or read-until-close body fed into a ``Body``. Each
network read is stamped with ``now_ns()`` *before* any parsing, and the stamp travels with
the bytes it came with (``Body.read_stamped``), so a token's time is when it reached this
process, not when its client got round to reading it. ``Body`` also offers what aiobotocore
reads (``readany``, ``read``, ``iter_chunks``, ``at_eof``), with flow control past 4 MiB
buffered (``_body.py``). When a body ends on a keep-alive connection, the connection reports itself idle
(``on_idle``) for the next request; any close reports ``on_closed``.

Failures are this module's exceptions (``ServerDisconnected``, ``ProtocolError``,
``ReadTimeout``), turned into a caller's own types by an ``ErrorMapper`` (the AWS adapter
maps them to botocore's, so SDK retries and error names work unchanged).
"""

from __future__ import annotations

import asyncio
import select
from typing import Callable

from ...clock import now_ns
from .body import Body

__all__ = [
    "Connection",
    "Body",
    "RawResponse",
    "ErrorMapper",
    "ProtocolError",
    "ServerDisconnected",
    "ReadTimeout",
]

_MAX_HEAD_BYTES = 64 * 1024
_MAX_CHUNK_LINE = 4096

# parser states
_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _CLOSE = range(8)


def _dead_probe(fd: int, tls: bool) -> Callable[[], bool]:
    """A zero-timeout check (~0.7 us with poll) that an idle connection's socket holds
    something: on plain HTTP any byte (the server's FIN, a reset, stray bytes); over TLS only
    the FIN or a reset, since a TLS 1.3 server may send session tickets to an idle client.
    Where poll has no "peer closed" flag (macOS), TLS falls back to "any byte"."""
    if hasattr(select, "poll"):
        poller = select.poll()
        peer_closed = getattr(select, "POLLRDHUP", 0)
        poller.register(fd, peer_closed if tls and peer_closed else select.POLLIN | select.POLLPRI)
        poll = poller.poll  # reports POLLHUP and POLLERR whatever the mask
        return lambda: bool(poll(0))
    return lambda: bool(select.select((fd,), (), (), 0)[0])  # pragma: no cover - no poll (Windows)


def _never() -> bool:
    return False


class ProtocolError(Exception):
    """The server sent something that is not HTTP/1.1 as expected."""


class ServerDisconnected(ConnectionError):
    """The connection closed before the response ended (before its head, or mid-body)."""


class ReadTimeout(TimeoutError):
    """No data within the read timeout (only when one is set: the OpenAI endpoints leave the
    per-request timeout to ``Endpoint.call``)."""


class ErrorMapper:
    """Turns this module's failures into the caller's exception types. The default keeps
    them: a mid-body failure is a ``ServerDisconnected`` (or the ``ProtocolError``)."""

    def streaming(self, exc: BaseException, url: str) -> BaseException:
        """The error a body read raises after the connection failed mid-body."""
        if isinstance(exc, (ServerDisconnected, ProtocolError)):
            return exc
        return ServerDisconnected(f"connection lost mid-response: {exc!r}")

    def read_timeout(self, url: str, message: str) -> BaseException:
        return ReadTimeout(message)


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes requests, parses responses into ``Body`` readers."""

    def __init__(self, key: tuple[str, str, int], on_idle: Callable[["Connection"], None],
                 on_closed: Callable[["Connection"], None], errors: ErrorMapper | None = None):
        self.key = key
        self.errors = errors or ErrorMapper()
        self._on_idle = on_idle
        self._on_closed = on_closed
        self.url = ""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buffer = b""
        self._head: asyncio.Future[tuple[int, dict[str, str], Body]] | None = None
        self._body: Body | None = None
        self._mode = _IDLE
        self._remaining = 0
        self._keep_alive = False
        self._no_body = False
        self._paused = False
        self._read_timeout: float | None = None
        self.arrival_ns = 0
        self._dead: Callable[[], bool] = _never

    # -- asyncio.Protocol ----------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            self._dead = _dead_probe(sock.fileno(), transport.get_extra_info("ssl_object") is not None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._mode == _CLOSE and self._body is not None:
            self._finish(False)
            return
        error = exc or ServerDisconnected("the server closed the connection")
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        elif self._body is not None and self._mode != _IDLE:
            self._body.set_exception(self.errors.streaming(error, self.url))
        self._on_closed(self)

    def data_received(self, data: bytes) -> None:
        self.arrival_ns = now_ns()  # first: the time of these bytes excludes parsing them
        try:
            self._parse(data)
        except ProtocolError as exc:
            self._fail(exc)

    # -- requests --------------------------------------------------------------------------
    def reusable(self) -> bool:
        """Whether this idle connection can take a request: still open, and nothing waiting on
        its socket (``_dead_probe``). Between responses an HTTP server sends nothing, so
        anything there is its FIN (an idle timeout, a close after the last response), a reset
        or stray bytes: the connection is dead before any request is written on it, even if
        the event loop has not yet run the callback that would tell."""
        transport = self.transport
        return not self.closed and transport is not None and not transport.is_closing() and not self._dead()

    def send(self, data: bytes, url: str, method: str, read_timeout: float | None) -> bool:
        """Write one request now (no yield) and expect its response. False when the write
        failed at once (the socket refused it: the peer had already reset the connection), so
        not a byte of this request left; the transport is then closing."""
        self.url = url
        self._read_timeout = read_timeout
        self._no_body = method == "HEAD"
        self._head = asyncio.get_running_loop().create_future()
        self._mode = _HEAD
        self._buffer = b""
        transport = self.transport
        transport.write(data)  # type: ignore[union-attr]
        # asyncio's socket transport sends at once when its buffer is empty (as it is unless a
        # previous request is still being written) and closes itself when that send fails
        return not transport.is_closing()  # type: ignore[union-attr]

    def response_head(self) -> asyncio.Future[tuple[int, dict[str, str], Body]]:
        """Awaitable ``(status, headers, body)`` of the request just sent."""
        assert self._head is not None
        return self._head

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
        head = self._head
        if head is not None and not head.done():
            head.cancel()  # nobody is left to retrieve an exception set on it later
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.abort()
        self._on_closed(self)

    # -- response parsing ------------------------------------------------------------------
    def _parse(self, data: bytes) -> None:
        """Parse ``data`` (after what an earlier read left over) from offset to offset; body
        bytes of one read are fed to the body as one piece."""
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        pos, end = 0, len(data)
        pieces: list[bytes] = []
        while pos < end:
            mode = self._mode
            if mode == _CHUNK_DATA or mode == _LENGTH:
                take = min(self._remaining, end - pos)
                pieces.append(data[pos:pos + take] if take != end or pos else data)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    if mode == _LENGTH:
                        self._feed(pieces)
                        self._finish(pos < end)
                        if self.closed:
                            return
                    else:
                        self._mode = _CHUNK_END
            elif mode == _CHUNK_END:
                if end - pos < 2:
                    break
                if data[pos:pos + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                pos += 2
                self._mode = _CHUNK_SIZE
            elif mode == _CHUNK_SIZE:
                i = data.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_CHUNK_LINE:
                        raise ProtocolError("chunk size line too long")
                    break
                line = data[pos:i]
                pos = i + 2
                if b";" in line:
                    line = line.split(b";", 1)[0]
                try:
                    self._remaining = int(line, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {line[:20]!r}") from None
                self._mode = _CHUNK_DATA if self._remaining else _TRAILERS
            elif mode == _HEAD:
                i = data.find(b"\r\n\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_HEAD_BYTES:
                        raise ProtocolError("response headers too large")
                    break
                head = data[pos:i]
                pos = i + 4
                self._start_body(head, pos < end)
                if self.closed:
                    return
            elif mode == _TRAILERS:
                i = data.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_HEAD_BYTES:
                        raise ProtocolError("trailers too large")
                    break
                last = i == pos
                pos = i + 2
                if last:
                    self._feed(pieces)
                    self._finish(pos < end)
                    if self.closed:
                        return
            elif mode == _CLOSE:
                pieces.append(data[pos:] if pos else data)
                pos = end
            else:  # bytes nobody asked for
                raise ProtocolError("unexpected data from the server")
        self._feed(pieces)
        if pos < end:
            self._buffer = data[pos:]

    def _feed(self, pieces: list[bytes]) -> None:
        if pieces:
            self._body.feed(pieces[0] if len(pieces) == 1 else b"".join(pieces), self.arrival_ns)  # type: ignore[union-attr]
            pieces.clear()

    def _start_body(self, head: bytes, more: bool) -> None:
        lines = head.split(b"\r\n")
        parts = lines[0].split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/"):
            raise ProtocolError(f"bad status line {lines[0][:40]!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise ProtocolError(f"bad status line {lines[0][:40]!r}") from None
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
            self._mode = _LENGTH
            self._remaining = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._mode = _CHUNK_SIZE
        elif "content-length" in headers:
            self._mode = _LENGTH
            try:
                self._remaining = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad content-length {headers['content-length'][:20]!r}") from None
        else:
            self._mode = _CLOSE
            self._keep_alive = False
        assert self._head is not None
        if not self._head.done():
            self._head.set_result((status, headers, body))
        if self._mode == _LENGTH and not self._remaining:
            self._finish(more)

    def _finish(self, extra: bool) -> None:
        """The body ended: hand the connection back, or close it (``extra``: bytes nobody
        asked for follow the response)."""
        body, self._body = self._body, None
        self._mode = _IDLE
        if body is not None:
            body.feed_eof()
        if extra or not self._keep_alive or self.closed:
            self.abort()
        else:
            self.resume_reading()  # paused for a big unread body: the next response must be read
            self._on_idle(self)

    def _fail(self, exc: Exception) -> None:
        if self._head is not None and not self._head.done():
            self._head.set_exception(exc)
        elif self._body is not None:
            self._body.set_exception(self.errors.streaming(exc, self.url))
        self.abort()

    def close_response(self, body: Body) -> None:
        """The reader of ``body`` is done: drop the connection if that body is still being
        received. A body received to its end has left the connection to the pool, where it
        may already serve another request: closing that response must not touch it."""
        if body is self._body:
            self.abort()


class RawResponse:
    """A response with its body unread: ``status``, ``headers``, ``content`` (a ``Body``),
    ``read``, ``release``. Also what aiobotocore keeps as ``AioAWSResponse.raw``."""

    __slots__ = ("url", "status", "headers", "content", "_connection")

    def __init__(self, url: str, status: int, headers: dict[str, str], content: Body, connection: Connection):
        self.url = url
        self.status = status
        self.headers = headers
        self.content = content
        self._connection = connection

    async def read(self) -> bytes:
        return await self.content.read()

    def close(self) -> None:
        """Done with the response: a body not read to its end closes the connection."""
        self._connection.close_response(self.content)

    def release(self) -> None:
        self.close()
