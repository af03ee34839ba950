"""The project's HTTP/1.1 client (``endpoints/transport/pool.py`` over ``transport/connection.py``) on
raw asyncio servers: arrival stamps, body framings, reuse, limits, errors."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from llmeter_core.clock import now_ns
from llmeter_core.endpoints.transport.connection import ProtocolError, ServerDisconnected
from llmeter_core.endpoints.transport.pool import ConnectError, ConnectionPool
from tests.timing import LoopLag


def _post(body: bytes = b"{}") -> bytes:
    return b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


@pytest.fixture
def server(raw_server):
    """``await server(handler)``: ``handler(writer, n)`` answers the n-th request of a
    connection (already read). Returns (key, url, connection count list)."""

    async def start(handler):
        url, connections = await raw_server(lambda reader, writer, n: handler(writer, n))
        port = int(url.rsplit(":", 1)[1])
        return ("http", "127.0.0.1", port), f"{url}/x", connections

    return start


async def _read_all(response) -> list[tuple[int, bytes]]:
    pieces = []
    while True:
        stamp, data = await response.content.read_stamped()
        if not data:
            return pieces
        pieces.append((stamp, data))


async def test_pieces_keep_the_time_they_arrived_not_the_time_they_were_read(server):
    """Two body pieces 30 ms apart, read 100 ms after the second: each carries its own
    arrival time, taken when the bytes reached the connection."""

    async def handler(writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
        await writer.drain()
        await asyncio.sleep(0.03)
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()

    key, url, _ = await server(handler)
    pool = ConnectionPool()
    try:
        async with LoopLag() as lag:
            start = now_ns()
            response = await pool.request(key, url, _post())
            await asyncio.sleep(0.15)  # the reader is late (other clients' work)
            read_at = now_ns()
            pieces = await _read_all(response)
    finally:
        await pool.close()
    assert [data for _, data in pieces] == [b"first", b"second"]
    (first, _), (second, _) = pieces
    assert start < first < second < read_at
    assert (second - first) / 1e9 >= 0.02  # the server wrote them 30 ms apart
    # stamped when they arrived (~30 ms after the head), not when they were read (150 ms after
    # it): only a loop that late could bring the two together
    assert (read_at - second) / 1e9 >= 0.08 - lag.worst_ms / 1000


@pytest.mark.parametrize("framing", ["length", "chunked", "close"])
async def test_body_framings_split_byte_by_byte_with_1xx_first(framing, server):
    body = b"data: one\n\ndata: two\n\n"
    head = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\n"
    wire = {
        "length": head + b"Content-Length: %d\r\n\r\n" % len(body) + body,
        "chunked": head
        + b"Transfer-Encoding: chunked\r\n\r\n7;e=1\r\n"
        + body[:7]
        + b"\r\n%x\r\n" % (len(body) - 7)
        + body[7:]
        + b"\r\n0\r\nT: x\r\n\r\n",
        "close": head + b"\r\n" + body,
    }[framing]

    async def handler(writer, n):
        for i in range(len(wire)):
            writer.write(wire[i : i + 1])
            await writer.drain()
        return framing != "close"

    key, url, connections = await server(handler)
    pool = ConnectionPool()
    try:
        for _ in range(2):
            response = await pool.request(key, url, _post())
            assert response.status == 200 and response.headers["x-a"] == "1, 2"
            assert b"".join(data for _, data in await _read_all(response)) == body
            response.release()
    finally:
        await pool.close()
    assert len(connections) == (2 if framing == "close" else 1)


async def test_twenty_requests_one_connection_and_pieces_of_one_read_come_joined(server):
    async def handler(writer, n):  # several chunks in one write: one read on the client side
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n1\r\nb\r\n1\r\nc\r\n0\r\n\r\n")
        await writer.drain()

    key, url, connections = await server(handler)
    pool = ConnectionPool(max_connections=4)
    try:
        await pool.prewarm(key, url, 1)
        for _ in range(20):
            pieces = await _read_all(await pool.request(key, url, _post()))
            assert [data for _, data in pieces] == [b"abc"]
        assert pool.idle_count(key) == 1
    finally:
        await pool.close()
    assert len(connections) == 1


async def test_max_connections_queues_requests(server):
    async def handler(writer, n):
        await asyncio.sleep(0.05)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx")
        await writer.drain()

    key, url, connections = await server(handler)
    pool = ConnectionPool(max_connections=2)
    try:
        started = time.perf_counter()
        responses = await asyncio.gather(*(pool.request(key, url, _post()) for _ in range(4)))
        assert [await r.read() for r in responses] == [b"x"] * 4
        elapsed = time.perf_counter() - started
    finally:
        await pool.close()
    assert len(connections) == 2 and elapsed >= 0.1


async def test_mid_body_disconnect_keeps_what_arrived_then_raises(server):
    async def handler(writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        return False

    key, url, _ = await server(handler)
    pool = ConnectionPool()
    try:
        response = await pool.request(key, url, _post())
        assert (await response.content.read_stamped())[1] == b"only part"
        with pytest.raises(ServerDisconnected):
            await response.content.read_stamped()
    finally:
        await pool.close()
    assert pool.idle_count(key) == 0


async def test_garbage_is_a_protocol_error_and_unreachable_a_connect_error(server):
    async def handler(writer, n):
        writer.write(b"SPDY/9 what\r\n\r\n")
        await writer.drain()

    key, url, _ = await server(handler)
    pool = ConnectionPool()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    try:
        with pytest.raises(ProtocolError):
            await pool.request(key, url, _post())
        with pytest.raises(ConnectError, match=f"127.0.0.1:{port}"):
            await pool.request(("http", "127.0.0.1", port), f"http://127.0.0.1:{port}/", _post())
    finally:
        await pool.close()


async def test_abandoned_body_closes_its_connection_and_the_next_request_opens_another(server):
    async def handler(writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(0.2)

    key, url, connections = await server(handler)
    pool = ConnectionPool()
    try:
        response = await pool.request(key, url, _post())
        assert (await response.content.read_stamped())[1] == b"abc"
        response.release()  # 7 bytes never came: the connection cannot serve another request
        assert pool.idle_count(key) == 0
        second = await pool.request(key, url, _post())
        assert (await second.content.read_stamped())[1] == b"abc"
        second.release()
    finally:
        await pool.close()
    assert len(connections) == 2


async def test_a_big_body_left_unread_does_not_stall_the_next_request_on_its_connection(server):
    """A body whose last network read takes the unread buffer past the 4 MiB flow-control
    mark pauses reading as it ends; the connection then goes back to the pool and must read
    the next response (regression: it stayed paused, the next request on it never got its
    reply)."""
    first_part = 4 * 1024 * 1024 - 1000
    rest = 2000

    async def handler(writer, n):
        if n:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (first_part + rest) + b"x" * first_part)
            await writer.drain()
            await asyncio.sleep(0.1)  # the client has read all of it by now: one last small read
            writer.write(b"y" * rest)
        await writer.drain()

    key, url, connections = await server(handler)
    pool = ConnectionPool()
    try:
        first = await pool.request(key, url, _post())
        for _ in range(200):  # the whole body arrived, nothing of it read yet
            if pool.idle_count(key):
                break
            await asyncio.sleep(0.01)
        assert pool.idle_count(key) == 1
        second = await asyncio.wait_for(pool.request(key, url, _post()), 2)
        assert await asyncio.wait_for(second.read(), 2) == b"ok"
        assert len(await first.read()) == first_part + rest
    finally:
        await pool.close()
    assert len(connections) == 1


class _Source:
    """A ``BodySource`` writing down what the body asks of its connection."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause_reading(self) -> None:
        self.calls.append("pause")

    def resume_reading(self) -> None:
        self.calls.append("resume")

    def read_timed_out(self) -> BaseException:
        return TimeoutError()


async def test_a_body_pauses_its_connection_past_4_mib_and_resumes_it_below_1_mib_once():
    from llmeter_core.endpoints.transport.body import Body

    source = _Source()
    body = Body(source, None)
    piece = b"x" * (1024 * 1024)
    for stamp in range(6):
        body.feed(piece, stamp)
    assert source.calls[0] == "pause" and "resume" not in source.calls
    stamps = [(await body.read_stamped())[0] for _ in range(4)]
    assert stamps == [0, 1, 2, 3] and "resume" not in source.calls  # 2 MiB still unread
    await body.read_stamped()
    await body.read_stamped()  # below 1 MiB: resumed, once
    assert source.calls.count("resume") == 1
    body.feed(b"y", 9)
    assert await body.read_stamped() == (9, b"y") and source.calls.count("resume") == 1
