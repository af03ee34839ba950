"""``Body``: a response body as a connection feeds it, read by the endpoints
(``read_stamped``: each network read's bytes with the ``now_ns()`` of their arrival) and by
aiobotocore (the parts of ``aiohttp.StreamReader`` it uses). Reading past 4 MiB buffered
pauses the connection until the reader catches up.

A body sees its connection only through ``BodySource``, declared here: ``connection.py``
imports this module, never the other way round.
"""

from __future__ import annotations

import asyncio
import collections
from typing import AsyncIterator, Callable, Protocol

__all__ = ["Body", "BodySource"]

_PAUSE_BYTES = 4 * 1024 * 1024
_RESUME_BYTES = 1024 * 1024


class BodySource(Protocol):
    """What a ``Body`` needs of the connection that feeds it."""

    def pause_reading(self) -> None:
        """Stop reading the socket: the reader is behind by more than 4 MiB."""

    def resume_reading(self) -> None:
        """Read again: the reader caught up."""

    def read_timed_out(self) -> BaseException:
        """Nothing came within the read timeout: close the connection, and return the error
        the reader raises."""
        ...


class Body:
    """A response body: ``read_stamped`` for readers that time what they read, and the parts
    of ``aiohttp.StreamReader`` that aiobotocore uses."""

    __slots__ = (
        "_connection",
        "_read_timeout",
        "_chunks",
        "_stamps",
        "_size",
        "_eof",
        "_exc",
        "_waiter",
        "_paused",
        "_sink",
        "last_arrival_ns",
    )

    def __init__(self, connection: BodySource, read_timeout: float | None):
        self._connection = connection
        self._read_timeout = read_timeout
        self._chunks: collections.deque[bytes] = collections.deque()
        self._stamps: collections.deque[int] = collections.deque()
        self._size = 0
        self._eof = False
        self._exc: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._paused = False  # this body asked its connection to stop reading
        self._sink: Callable[[int, bytes], None] | None = None  # push_to's reader
        #: ``now_ns()`` of the network read that brought the latest bytes (0: none yet).
        self.last_arrival_ns = 0

    # fed by the connection
    def feed(self, data: bytes, arrival_ns: int) -> None:
        self.last_arrival_ns = arrival_ns
        sink = self._sink
        if sink is not None:
            try:
                sink(arrival_ns, data)
            except Exception as exc:  # the reader's failure, raised to it by pushed()
                self._sink = None
                self.set_exception(exc)
            return
        self._chunks.append(data)
        self._stamps.append(arrival_ns)
        self._size += len(data)
        if self._size > _PAUSE_BYTES:
            self._paused = True
            self._connection.pause_reading()
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def feed_eof(self) -> None:
        self._eof = True
        self._wake()

    def set_exception(self, exc: BaseException) -> None:
        if self._exc is None:  # the first failure is the one to report
            self._exc = exc
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # read by the endpoints and aiobotocore
    def at_eof(self) -> bool:
        return self._eof and not self._chunks

    async def _wait(self) -> None:
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            if self._read_timeout is None:
                await waiter
            else:
                try:
                    async with asyncio.timeout(self._read_timeout):
                        await waiter
                except TimeoutError:
                    raise self._connection.read_timed_out() from None
        finally:
            self._waiter = None

    async def read_stamped(self) -> tuple[int, bytes]:
        """The next piece as received: ``(arrival_ns, bytes)``, ``(0, b"")`` at the end. One
        network read's worth of body per call (pieces of one read come joined), each with the
        ``now_ns()`` taken when that read reached the connection.

        The per-token call of every stream: without a read timeout it waits on its future
        itself (no ``_wait`` frame to resume on each read), and it tells the connection to
        resume reading only if it paused it."""
        chunks = self._chunks
        while not chunks:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return 0, b""
            if self._read_timeout is None:
                self._waiter = waiter = asyncio.get_running_loop().create_future()
                try:
                    await waiter
                finally:
                    self._waiter = None
            else:
                await self._wait()
        data = chunks.popleft()
        self._size -= len(data)
        if self._paused:
            self._resume()
        return self._stamps.popleft(), data

    def push_to(self, sink: Callable[[int, bytes], None]) -> bool:
        """From now on hand each piece to ``sink(arrival_ns, bytes)`` as the connection
        receives it, inside its read callback (what was buffered first, with its stamps),
        instead of buffering it for ``read_stamped``; wait for the end with ``pushed``. The
        per-token path of the streaming endpoints (``sse.read_pushed``): no future and no
        wake-up of the reader per network read. False (nothing changed) for a body with a read
        timeout, whose reader must wake on each read to restart its timer."""
        if self._read_timeout is not None:
            return False
        chunks, stamps = self._chunks, self._stamps
        self._sink = sink
        while chunks and self._sink is not None:
            self._size -= len(chunks[0])
            self.feed(chunks.popleft(), stamps.popleft())
        chunks.clear()  # left by a failed sink: nobody reads them
        stamps.clear()
        self._size = 0
        if self._paused:
            self._resume()
        return True

    async def pushed(self) -> None:
        """Wait until the whole body went to ``push_to``'s sink; raise what failed (the
        connection, or the sink itself)."""
        while True:
            if self._exc is not None:
                raise self._exc
            if self._eof:
                return
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            try:
                await waiter
            finally:
                self._waiter = None

    def _resume(self) -> None:
        """Resume the connection's reading once less than 1 MiB is left unread (never after
        the end: the connection may then serve another response)."""
        if self._size < _RESUME_BYTES and not self._eof:
            self._paused = False
            self._connection.resume_reading()

    def _take(self, limit: int = -1) -> bytes:
        chunks = self._chunks
        if limit < 0 or limit >= self._size:
            data = b"".join(chunks) if len(chunks) != 1 else chunks[0]
            chunks.clear()
            self._stamps.clear()
        else:
            joined = b"".join(chunks)
            data, rest = joined[:limit], joined[limit:]
            chunks.clear()
            chunks.append(rest)
            last = self._stamps[-1]
            self._stamps.clear()
            self._stamps.append(last)
        self._size -= len(data)
        if self._paused:
            self._resume()
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

    async def iter_chunks(self) -> AsyncIterator[tuple[bytes, bool]]:
        while True:
            data = await self.readany()
            if not data:
                return
            yield data, True
