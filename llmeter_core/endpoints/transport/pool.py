"""``ConnectionPool``: keep-alive HTTP/1.1 connections (``connection.Connection``) per host,
the one HTTP client of the project (the OpenAI endpoints use it through
``clients.DirectTransport``, the AWS endpoints through ``aws_session.DirectHTTPSession``).

``request`` takes an idle connection (or opens one), writes the request without yielding and
waits for the response head. What it does for its callers:

- reuse: a connection whose body was read to its end goes back to the pool; an idle one
  older than ``idle_limit_s`` is replaced rather than reused (servers close idle
  connections: uvicorn after 5 s, AWS after 20 s), and so is one the server has already
  closed or reset (``Connection.reusable``: anything waiting on an idle socket is a FIN, a
  reset or stray bytes), before anything is written on it;
- nothing is sent twice. Once a request's bytes are written, the server may have seen it:
  a connection closed before any reply is a ``ServerDisconnected`` for the caller to record,
  never a silent resend (which would make the server's count exceed the recorded one and
  hide the failure). Only a write that failed at once (the socket refused it: not a byte
  left) raises ``RequestNotSent``, which ``Endpoint.call`` sends again once, counted in
  ``retries`` and timed from the new attempt;
- at most ``max_connections`` connections at a time (0: no limit, and no semaphore on the
  hot path); requests beyond it wait for a connection to come back;
- TLS with a context built once, in a thread, before the first request (``ssl_context``);
- ``prewarm``: open connections ahead of the first request, so no client's time to first
  token includes a TCP or TLS handshake.

Failures are the exceptions of ``errors``: ``ConnectError`` (``ConnectTimeout``, ``TLSError``),
``ServerDisconnected``, ``ProtocolError``, ``ReadTimeout`` and ``RequestNotSent``, for the
caller to keep or translate; a request cancelled before it was written raises
``SendCancelled`` (the runner counts it as unsent).
"""

from __future__ import annotations

import asyncio
import collections
import ssl
import time
from typing import Callable

from .connection import Connection, RawResponse
from .errors import (
    ConnectError,
    ConnectTimeout,
    ErrorMapper,
    ReadTimeout,
    RequestNotSent,
    SendCancelled,
    ServerDisconnected,
    TLSError,
)
from .http1 import Key

__all__ = ["ConnectionPool"]


class ConnectionPool:
    """See the module docstring."""

    def __init__(
        self,
        *,
        max_connections: int = 0,
        connect_timeout: float | None = None,
        idle_limit_s: float = 12.0,
        ssl_context: Callable[[], ssl.SSLContext] = ssl.create_default_context,
        errors: ErrorMapper | None = None,
    ):
        self._slots = asyncio.Semaphore(max_connections) if max_connections else None
        self._connect_timeout = connect_timeout
        self._idle_limit_s = idle_limit_s
        self._build_ssl = ssl_context
        self._errors = errors or ErrorMapper()
        self._idle: dict[Key, list[Connection]] = collections.defaultdict(list)
        self._busy: set[Connection] = set()
        self._ssl: ssl.SSLContext | None = None
        self.closed = False

    # -- lifecycle -------------------------------------------------------------------------
    async def ssl_context(self) -> ssl.SSLContext:
        """The TLS context (built once, in a thread: loading CA certificates takes ~50 ms)."""
        if self._ssl is None:
            self._ssl = await asyncio.to_thread(self._build_ssl)
        return self._ssl

    async def prewarm(self, key: Key, url: str, count: int = 1) -> None:
        """Open ``count`` connections to ``key`` and leave them idle for the first requests."""

        async def one() -> None:
            if self._slots is not None:
                await self._slots.acquire()
            try:
                connection = await self._connect(key, url)
            except BaseException:
                if self._slots is not None:
                    self._slots.release()
                raise
            self._release(connection)

        await asyncio.gather(*(one() for _ in range(count)))

    def idle_count(self, key: Key) -> int:
        return len(self._idle.get(key, ()))

    async def close(self) -> None:
        """Close every connection, idle or busy (a busy one's reader gets an error)."""
        self.closed = True
        for connections in list(self._idle.values()):
            for connection in list(connections):
                connection.abort()
        for connection in list(self._busy):
            connection.abort()
        self._idle.clear()
        # an aborted transport closes its socket on the loop's next turn: take that turn, so
        # the file descriptors are free when close() returns (a run out of them, EMFILE, must
        # still be able to write its results)
        await asyncio.sleep(0)

    # -- connections -----------------------------------------------------------------------
    def _release(self, connection: Connection) -> None:
        """``on_idle``: the connection finished a response and can serve another."""
        if connection in self._busy:
            self._busy.discard(connection)
            if self._slots is not None:
                self._slots.release()
        if self.closed:
            connection.abort()
            return
        connection.idle_since = time.monotonic()
        self._idle[connection.key].append(connection)

    def _forget(self, connection: Connection) -> None:
        """``on_closed``: drop the connection from the pool (idempotent)."""
        if connection in self._busy:
            self._busy.discard(connection)
            if self._slots is not None:
                self._slots.release()
        idle = self._idle.get(connection.key)
        if idle and connection in idle:
            idle.remove(connection)

    def _take_idle(self, key: Key) -> Connection | None:
        idle = self._idle.get(key)
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            connection = idle.pop()
            if now - connection.idle_since < self._idle_limit_s and connection.reusable():
                self._busy.add(connection)
                return connection
            connection.abort()
        return None

    async def _connect(self, key: Key, url: str) -> Connection:
        scheme, host, port = key
        context = await self.ssl_context() if scheme == "https" else None
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._connect_timeout):
                _, connection = await loop.create_connection(
                    lambda: Connection(key, self._release, self._forget, self._errors),
                    host,
                    port,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
        except TimeoutError as exc:
            raise ConnectTimeout(f"no connection to {host}:{port} within {self._connect_timeout} s") from exc
        except ssl.SSLError as exc:
            raise TLSError(f"TLS handshake with {host}:{port} failed: {exc}") from exc
        except OSError as exc:
            raise ConnectError(f"cannot connect to {host}:{port}: {exc.strerror or exc}") from exc
        if self.closed:
            connection.abort()
            raise ConnectError("the connection pool is closed")
        self._busy.add(connection)
        return connection

    # -- requests --------------------------------------------------------------------------
    async def request(
        self, key: Key, url: str, data: bytes, method: str = "POST", read_timeout: float | None = None
    ) -> RawResponse:
        """Send ``data`` (a whole HTTP/1.1 request) to ``key``; return the response once its
        head arrived, body unread. With an idle connection at hand, the bytes are written
        before this coroutine first yields. Nothing is ever sent twice: a failure after the
        write is the caller's to record; ``RequestNotSent`` when the write itself failed."""
        slots = self._slots
        try:
            if slots is not None:
                await slots.acquire()
        except asyncio.CancelledError:
            raise SendCancelled(f"cancelled while waiting for a connection to {key[1]}:{key[2]}") from None
        try:
            connection = self._take_idle(key) or await self._connect(key, url)
        except BaseException as exc:
            if slots is not None:
                slots.release()  # no connection owns the slot
            if isinstance(exc, asyncio.CancelledError):  # nothing was written: never a request
                raise SendCancelled(f"cancelled while connecting to {key[1]}:{key[2]}") from None
            raise
        deadline = None
        try:  # from here the connection owns the slot: closing it frees it
            if not connection.send(data, url, method, read_timeout):
                raise RequestNotSent(f"the connection to {key[1]}:{key[2]} was reset before the request was written")
            if read_timeout is None:
                status, headers, body = await connection.response_head()
            else:
                async with (deadline := asyncio.timeout(read_timeout)):
                    status, headers, body = await connection.response_head()
        except BaseException as exc:
            connection.abort()
            if deadline is not None and deadline.expired():
                raise ReadTimeout(f"no response within {read_timeout} s") from None
            if isinstance(exc, OSError):  # the server hung up (or reset) after the request was written
                raise ServerDisconnected(f"the server closed the connection before replying ({exc})") from exc
            raise
        return RawResponse(url, status, headers, body, connection)
