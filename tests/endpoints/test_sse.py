"""The server-sent-events reader (``endpoints/transport/sse.py``) on bodies fed piece by piece:
event names paired with their data, lines cut anywhere, and the arrival time of each line."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from llmeter_core.endpoints.transport.clients import _AiohttpBody
from llmeter_core.endpoints.transport.sse import sse_events


class Pieces:
    """A ``StampedBody`` handing out ``pieces``, the n-th stamped ``1000 * (n + 1)``."""

    def __init__(self, pieces: list[bytes]):
        self.pieces = list(pieces)
        self.stamp = 0
        self.last_arrival_ns = 0

    async def read_stamped(self) -> tuple[int, bytes]:
        if not self.pieces:
            return 0, b""
        self.stamp += 1000
        return self.stamp, self.pieces.pop(0)

    async def read(self) -> bytes:
        data, self.pieces = b"".join(self.pieces), []
        return data


async def test_event_names_pair_with_their_data_through_an_aiohttp_reader():
    from aiohttp import StreamReader
    from aiohttp.base_protocol import BaseProtocol

    loop = asyncio.get_running_loop()
    reader = StreamReader(BaseProtocol(loop), 2**16, loop=loop)
    reader.feed_data(b"event: a\ndata: 1\n\n: comment\ndata: 2\n\nevent: b\nid: 7\ndata:3\n\n")
    reader.feed_eof()
    body = _AiohttpBody(SimpleNamespace(content=reader))
    items = [item async for item in sse_events(body)]
    assert [item[1:] for item in items] == [(b"a", b"1"), (None, b"2"), (b"b", b"3")]
    assert all(arrival > 0 for arrival, _, _ in items)  # stamped as handed over


async def test_lines_split_across_chunks_crlf_and_long_lines():
    """Lines cut anywhere between network chunks are reassembled; CRLF endings work; a line
    far longer than aiohttp's readline limit (2 x 64 KiB) is accepted; a last line without its
    newline is not lost."""
    long_value = b"x" * 300_000
    stream = b"event: big\r\ndata: " + long_value + b"\r\n\r\ndata: two\n\ndata: tail"
    pieces = [stream[start : start + 7001] for start in range(0, len(stream), 7001)]  # odd cuts
    items = [item async for item in sse_events(Pieces(pieces))]
    assert [(event, data[:3], len(data)) for _, event, data in items] == [
        (b"big", b"xxx", 300_000),
        (None, b"two", 3),
        (None, b"tai", 4),
    ]


async def test_a_line_takes_the_arrival_time_of_the_piece_that_completes_it():
    body = Pieces([b"data: on", b"e\n\ndata: two\n\nda", b"ta: three\n\n"])
    assert [(arrival, data) async for arrival, _, data in sse_events(body)] == [
        (2000, b"one"),
        (2000, b"two"),
        (3000, b"three"),
    ]
