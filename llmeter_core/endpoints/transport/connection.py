"""One HTTP/1.1 connection as an asyncio protocol: the project's own client, under every
endpoint that talks HTTP directly (the OpenAI endpoints, and the AWS endpoints through
aiobotocore). Why it exists: ``docs/transport.md``.

``Connection.send`` writes a whole request with one ``transport.write`` and returns without
yielding: the bytes are on their way before any other coroutine runs.

Each network read is stamped with ``now_ns()`` *before* it is parsed (by
``http1.ResponseParser``), and the stamp travels with the bytes it came with
(``Body.read_stamped``), so a token's time is when it reached this process, not when its client
got round to reading it. ``Body`` also offers what aiobotocore reads (``readany``, ``read``,
``iter_chunks``, ``at_eof``), with flow control past 4 MiB buffered. When a body ends on a
keep-alive connection, the connection reports itself idle (``on_idle``) for the next request;
any close reports ``on_closed``.

Failures are ``errors``' exceptions (``ServerDisconnected``, ``ProtocolError``, ``ReadTimeout``),
turned into a caller's own types by an ``ErrorMapper`` (the AWS session maps them to botocore's,
so SDK retries and error names work unchanged).
"""

from __future__ import annotations

import asyncio
import select
from typing import Callable

from ...clock import now_ns
from .body import Body
from .errors import ErrorMapper, ProtocolError, ServerDisconnected
from .http1 import Key, ResponseParser

__all__ = ["Connection", "RawResponse"]


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


class Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: writes requests, feeds responses to ``Body`` readers."""

    def __init__(
        self,
        key: Key,
        on_idle: Callable[["Connection"], None],
        on_closed: Callable[["Connection"], None],
        errors: ErrorMapper | None = None,
    ):
        self.key = key
        self.errors = errors or ErrorMapper()
        self._on_idle = on_idle
        self._on_closed = on_closed
        self.url = ""
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._parser = ResponseParser(self)
        self._head: asyncio.Future[tuple[int, dict[str, str], Body]] | None = None
        self._body: Body | None = None
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
        if self._body is not None and self._parser.feed_eof():
            return  # that ended a read-until-close body (body_ended closed up)
        error = exc or ServerDisconnected("the server closed the connection")
        if self._head is not None and not self._head.done():
            self._head.set_exception(error)
        elif self._body is not None:
            self._body.set_exception(self.errors.streaming(error, self.url))
        self._on_closed(self)

    def data_received(self, data: bytes) -> None:
        self.arrival_ns = now_ns()  # first: the time of these bytes excludes parsing them
        try:
            self._parser.feed(data)
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
        self._head = asyncio.get_running_loop().create_future()
        self._parser.expect(no_body=method == "HEAD")
        transport = self.transport
        transport.write(data)  # type: ignore[union-attr]
        # asyncio's socket transport sends at once when its buffer is empty (as it is unless a
        # previous request is still being written) and closes itself when that send fails
        return not transport.is_closing()  # type: ignore[union-attr]

    def response_head(self) -> asyncio.Future[tuple[int, dict[str, str], Body]]:
        """Awaitable ``(status, headers, body)`` of the request just sent."""
        assert self._head is not None
        return self._head

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

    def close_response(self, body: Body) -> None:
        """The reader of ``body`` is done: drop the connection if that body is still being
        received. A body received to its end has left the connection to the pool, where it
        may already serve another request: closing that response must not touch it."""
        if body is self._body:
            self.abort()

    # -- the body's source (body.BodySource) ---------------------------------------------
    def pause_reading(self) -> None:
        if not self._paused and self.transport is not None and not self.closed:
            self._paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._paused and self.transport is not None and not self.closed:
            self._paused = False
            self.transport.resume_reading()

    def read_timed_out(self) -> BaseException:
        self.abort()
        return self.errors.read_timeout(self.url, "no data within read_timeout")

    # -- what the parser reports (http1.ResponseHandler) --------------------------------
    def head_received(self, status: int, headers: dict[str, str]) -> None:
        body = Body(self, self._read_timeout)
        self._body = body
        assert self._head is not None
        if not self._head.done():
            self._head.set_result((status, headers, body))

    def body_received(self, data: bytes) -> None:
        self._body.feed(data, self.arrival_ns)  # type: ignore[union-attr]

    def body_ended(self, reusable: bool) -> None:
        """Hand the connection back, or close it."""
        body, self._body = self._body, None
        if body is not None:
            body.feed_eof()
        if not reusable or self.closed:
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
