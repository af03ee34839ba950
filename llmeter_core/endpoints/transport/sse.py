"""Reading OpenAI-compatible responses: server-sent events a network read at a time, and
whole bodies, each with the time its bytes arrived (see ``sse_events``).

What they read is declared here: a ``Response`` whose ``content`` is a ``StampedBody``. The
direct client's ``RawResponse``/``Body`` are one; ``clients.AiohttpTransport`` wraps aiohttp's
response into another.
"""

from __future__ import annotations

from typing import AsyncIterator, Callable, Protocol

from ...clock import now_ns

__all__ = ["StampedBody", "Response", "SSESplitter", "read_pushed", "sse_events", "read_body"]


class StampedBody(Protocol):
    """A response body read with the time its bytes arrived."""

    #: ``now_ns()`` of the network read that brought the latest bytes (0: none yet).
    last_arrival_ns: int

    async def read_stamped(self) -> tuple[int, bytes]:
        """The next piece: ``(arrival_ns, bytes)``, ``(0, b"")`` at the end."""
        ...

    async def read(self) -> bytes:
        """The whole (rest of the) body."""
        ...


class Response(Protocol):
    """An HTTP response with its body unread."""

    @property
    def status(self) -> int: ...

    @property
    def content(self) -> StampedBody: ...

    def release(self) -> None:
        """Done with it: a body not read to its end closes its connection."""


class SSESplitter:
    """Server-sent events split as their bytes arrive: ``feed(arrival_ns, chunk)`` calls
    ``on_data(arrival_ns, event_name, data)`` for every complete ``data:`` line in it; ``end()``
    at the end of the body, for a last line without its line end. The one home of the rules
    ``sse_events`` documents (names, comments, carried lines), for readers that are fed
    (``read_pushed``) and for those that pull (``sse_events``)."""

    __slots__ = ("_on_data", "_event", "_carry", "_arrival_ns")

    def __init__(self, on_data: Callable[[int, bytes | None, bytes], None]):
        self._on_data = on_data
        self._event: bytes | None = None
        self._carry: list[bytes] = []
        self._arrival_ns = 0

    def feed(self, arrival_ns: int, chunk: bytes) -> None:
        self._arrival_ns = arrival_ns
        carry = self._carry
        if not carry and chunk[-2:] == b"\n\n" and chunk[:5] == b"data:" and chunk.count(b"\n") == 2:
            # the common read of a stream: one whole event of one data line (LF endings)
            self._on_data(arrival_ns, self._event, chunk[5:-2].strip())
            self._event = None  # its blank line
            return
        lines = chunk.split(b"\n")
        if len(lines) == 1:  # no line end yet: keep the piece for the next chunk
            carry.append(chunk)
            return
        if carry:
            carry.append(lines[0])
            lines[0] = b"".join(carry)
            carry.clear()
        last = lines.pop()
        if last:
            carry.append(last)
        on_data = self._on_data
        for line in lines:
            if line[:5] == b"data:":
                on_data(arrival_ns, self._event, line[5:].strip())
            elif line[:6] == b"event:":
                self._event = line[6:].strip()
            elif not line or line == b"\r":
                self._event = None

    def end(self) -> None:
        """The body ended: a last line without its line end still counts."""
        if self._carry:
            line = b"".join(self._carry)
            self._carry.clear()
            if line[:5] == b"data:":
                self._on_data(self._arrival_ns, self._event, line[5:].strip())


async def read_pushed(content: StampedBody, feed: Callable[[int, bytes], None]) -> None:
    """Hand every piece of ``content`` to ``feed(arrival_ns, bytes)`` until its end.

    On the direct client (``Body.push_to``) ``feed`` runs inside the connection's read
    callback, right after the read was stamped: no future, no wake-up of this coroutine and
    no buffering per network read, and the coroutine resumes once, at the end of the body (an
    exception ``feed`` raised is raised here then, and the rest of the body is not fed). Any
    other body (aiohttp's, a body with a read timeout) is read piece by piece and fed the
    same way. The stamps are the same either way: when the read reached this process."""
    push_to = getattr(content, "push_to", None)
    if push_to is not None and push_to(feed):
        await content.pushed()  # type: ignore[attr-defined]
        return
    read = content.read_stamped
    while True:
        stamp, chunk = await read()
        if not chunk:
            return
        feed(stamp, chunk)


async def sse_events(content: StampedBody) -> AsyncIterator[tuple[int, bytes | None, bytes]]:
    """Yield ``(arrival_ns, event_name, data)`` for every ``data:`` line of a server-sent-events
    stream.

    ``arrival_ns`` is when the network read holding the line reached this process: the
    direct client's stamp (``Body.read_stamped``, taken in ``data_received`` before any
    parsing), or, for aiohttp, ``now_ns()`` as the chunk is handed over. Either way a token's
    time excludes decoding it (and the lines before it in the same read). ``event_name`` is
    the value of the preceding ``event:`` line of the same event, or ``None``. Comments, ids
    and retry fields are ignored. Multi-line data (rare in LLM APIs) is yielded line by line.
    A line is only sliced here; decoding JSON is left to the caller, which skips the events it
    does not use without decoding them.

    The stream is read a network chunk at a time and split into lines with one
    ``bytes.split`` per chunk (aiohttp's ``readline`` costs several microseconds of Python
    per line). A line cut between two chunks is carried over, so any length is accepted; it
    takes the time of the chunk that completes it. (A reader on the per-token path feeds an
    ``SSESplitter`` through ``read_pushed`` instead, with no coroutine resumed per read.)
    """
    read = content.read_stamped
    ready: list[tuple[int, bytes | None, bytes]] = []
    splitter = SSESplitter(lambda arrival_ns, event, data: ready.append((arrival_ns, event, data)))
    while True:
        stamp, chunk = await read()
        if not chunk:
            break
        splitter.feed(stamp, chunk)
        if ready:
            for item in ready:
                yield item
            ready.clear()
    splitter.end()
    for item in ready:
        yield item


async def read_body(response: Response) -> tuple[int, bytes]:
    """``(arrival_ns, body)``: the whole body of a response and when its last bytes arrived
    (now, for an empty body). Releases it."""
    try:
        content = response.content
        data = await content.read()
        return content.last_arrival_ns or now_ns(), data
    finally:
        response.release()
