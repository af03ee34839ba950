"""Reading OpenAI-compatible responses: server-sent events a network read at a time, and
whole bodies, each with the time its bytes arrived (see ``sse_events``).

What they read is declared here: a ``Response`` whose ``content`` is a ``StampedBody``. The
direct client's ``RawResponse``/``Body`` are one; ``clients.AiohttpTransport`` wraps aiohttp's
response into another.
"""

from __future__ import annotations

from typing import AsyncIterator, Protocol

from ...clock import now_ns

__all__ = ["StampedBody", "Response", "sse_events", "read_body"]


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
    takes the time of the chunk that completes it.
    """
    read = content.read_stamped
    event: bytes | None = None
    carry: list[bytes] = []
    arrival_ns = 0
    while True:
        stamp, chunk = await read()
        if not chunk:
            break
        arrival_ns = stamp
        lines = chunk.split(b"\n")
        if len(lines) == 1:  # no line end yet: keep the piece for the next chunk
            carry.append(chunk)
            continue
        if carry:
            carry.append(lines[0])
            lines[0] = b"".join(carry)
            carry.clear()
        last = lines.pop()
        if last:
            carry.append(last)
        for line in lines:
            if line[:5] == b"data:":
                yield arrival_ns, event, line[5:].strip()
            elif line[:6] == b"event:":
                event = line[6:].strip()
            elif not line or line == b"\r":
                event = None
    if carry:  # a last line without its line end
        line = b"".join(carry)
        if line[:5] == b"data:":
            yield arrival_ns, event, line[5:].strip()


async def read_body(response: Response) -> tuple[int, bytes]:
    """``(arrival_ns, body)``: the whole body of a response and when its last bytes arrived
    (now, for an empty body). Releases it."""
    try:
        content = response.content
        data = await content.read()
        return content.last_arrival_ns or now_ns(), data
    finally:
        response.release()
