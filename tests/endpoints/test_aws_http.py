"""DirectHTTPSession (``endpoints/transport/aws_session.py``) on hand-made HTTP responses: body framings,
keep-alive, stale and broken connections, timeouts, and the property it exists for: a
request's bytes leave before any other coroutine runs."""

from __future__ import annotations

import asyncio
import socket
import sys
import threading
import time

import pytest
from botocore.awsrequest import AWSRequest
from botocore.exceptions import (
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from llmeter_core.endpoints.transport.aws_session import DirectHTTPSession


def _request(url: str, body: bytes = b'{"a": 1}', stream: bool = False, method: str = "POST"):
    prepared = AWSRequest(method=method, url=url, data=body, headers={"Content-Type": "application/json"}).prepare()
    prepared.stream_output = stream
    return prepared


def _reply(body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\nx-amzn-RequestId: r1\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), extra, body)


async def test_content_length_body_and_keep_alive(raw_server):
    async def handler(reader, writer, n):
        writer.write(_reply(b'{"n": %d}' % n))
        await writer.drain()

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        bodies = [await (await session.send(_request(url))).content for _ in range(3)]
    assert bodies == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert len(connections) == 1


async def test_chunked_body_split_byte_by_byte_with_1xx_first(raw_server):
    wire = (
        b"HTTP/1.1 100 Continue\r\n\r\n"
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Amzn-RequestId: r2\r\n\r\n"
        b"5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nTrailer: x\r\n\r\n"
    )

    async def handler(reader, writer, n):
        for i in range(len(wire)):
            writer.write(wire[i : i + 1])
            await writer.drain()

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        response = await session.send(_request(url, stream=True))
        assert response.status_code == 200 and response.headers["x-amzn-requestid"] == "r2"
        chunks = [chunk async for chunk, _ in response.raw.content.iter_chunks()]
        again = await session.send(_request(url))
        assert await again.content == b"hello world"
    assert b"".join(chunks) == b"hello world"
    assert len(connections) == 1  # the chunked response ended cleanly: the connection was reused


async def test_read_until_close_body(raw_server):
    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\n\r\npart one, ")
        await writer.drain()
        writer.write(b"part two")
        return False  # the server closes: that ends the body

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        assert await (await session.send(_request(url))).content == b"part one, part two"
        assert await (await session.send(_request(url))).content == b"part one, part two"
    assert len(connections) == 2


async def test_head_response_has_no_body(raw_server):
    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 14\r\n\r\n" if n == 0 else _reply(b"ok"))
        await writer.drain()

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        head = await session.send(_request(url, body=b"", method="HEAD"))
        assert head.status_code == 404 and await head.content == b""
        assert await (await session.send(_request(url))).content == b"ok"
    assert len(connections) == 1


async def test_idle_connection_closed_by_the_server_is_replaced(raw_server):
    async def handler(reader, writer, n):
        writer.write(_reply(b"fine"))
        await writer.drain()
        return False  # close after each response, without saying so

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        for _ in range(3):
            assert await (await session.send(_request(url))).content == b"fine"
    assert len(connections) == 3


async def test_connection_dropped_mid_body_is_a_streaming_error(raw_server):
    async def handler(reader, writer, n):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()
        return False

    url, _ = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        response = await session.send(_request(url, stream=True))
        assert await response.raw.content.readany() == b"only part"
        with pytest.raises(ResponseStreamingError):
            await response.raw.content.readany()


async def test_connection_closed_before_any_reply(raw_server):
    async def handler(reader, writer, n):
        return False

    url, _ = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        with pytest.raises(ConnectionClosedError):
            await session.send(_request(url))


async def test_read_timeouts(raw_server):
    calls = []

    async def handler(reader, writer, n):
        calls.append(n)
        if len(calls) == 1:
            await asyncio.sleep(1)  # no reply in time
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
            await writer.drain()
            await asyncio.sleep(1)

    url, _ = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 0.2)) as session:
        with pytest.raises(ReadTimeoutError):
            await session.send(_request(url))
        response = await session.send(_request(url, stream=True))
        assert await response.raw.content.read(3) == b"abc"
        with pytest.raises(ReadTimeoutError):
            await response.raw.content.read(3)


async def test_unreachable_endpoint():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # nothing listens here once closed
    async with DirectHTTPSession(timeout=(1, 1)) as session:
        with pytest.raises(EndpointConnectionError):
            await session.send(_request(f"http://127.0.0.1:{port}"))


async def test_closing_a_finished_response_leaves_its_reused_connection_alone(raw_server):
    """Regression: closing response 1 (read to its end) must not abort request 2, which the
    pool had already given the same connection."""

    async def handler(reader, writer, n):
        if n == 1:
            await asyncio.sleep(0.05)
        writer.write(_reply(b"r%d" % n))
        await writer.drain()

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2)) as session:
        first = await session.send(_request(url, stream=True))
        assert await first.raw.content.read() == b"r0"
        second = asyncio.create_task(session.send(_request(url)))
        await asyncio.sleep(0.01)  # request 2 is in flight on the same connection
        first.raw.close()
        assert await (await second).content == b"r1"
    assert len(connections) == 1


async def test_pool_limit_queues_requests(raw_server):
    async def handler(reader, writer, n):
        await asyncio.sleep(0.05)
        writer.write(_reply(b"x"))
        await writer.drain()

    url, connections = await raw_server(handler)
    async with DirectHTTPSession(timeout=(2, 2), max_pool_connections=2) as session:
        started = time.perf_counter()
        await asyncio.gather(*(session.send(_request(url)) for _ in range(4)))
        elapsed = time.perf_counter() - started
    assert len(connections) == 2
    assert elapsed >= 0.1  # two rounds of two


def _arrival_server():
    """A server in its own thread that timestamps when each request's first byte arrives,
    independent of the client's (busy) event loop. Answers every request with 'ok'."""
    listener = socket.create_server(("127.0.0.1", 0))
    arrivals: dict[bytes, float] = {}

    def serve(conn):
        with conn:
            data = b""
            while True:
                try:
                    chunk = conn.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                data += chunk
                while b"\r\n\r\n" in data:
                    head, _, rest = data.partition(b"\r\n\r\n")
                    arrivals.setdefault(head.split(b"\r\n")[0], time.perf_counter())
                    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                    if len(rest) < length:
                        break
                    data = rest[length:]
                    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    def accept():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener, arrivals


async def test_request_bytes_leave_before_other_clients_run():
    """20 clients become ready together; each burns 5 ms of CPU (its SDK work) right before
    sending. With a deferred write (aiohttp on Python 3.11) no request would leave before all 20
    had burnt theirs (~100 ms), so none would reach the server before the last client sent;
    here each leaves at once (compared with the last send, not a fixed window: see the same
    test in test_openai_http.py)."""
    listener, arrivals = _arrival_server()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    sent_at: dict[bytes, float] = {}
    # the server's threads share this process's GIL: let them take it within 0.5 ms (not the
    # default 5 ms) so they timestamp arrivals while the clients burn CPU
    switch = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)
    try:
        async with DirectHTTPSession(timeout=(2, 2), max_pool_connections=64) as session:
            await asyncio.gather(*(session.send(_request(f"{url}/warm/{i}")) for i in range(20)))

            async def client(i: int) -> None:
                deadline = time.perf_counter() + 0.005
                while time.perf_counter() < deadline:  # the SDK's CPU work for this request
                    pass
                sent_at[f"POST /c/{i} HTTP/1.1".encode()] = time.perf_counter()
                await session.send(_request(f"{url}/c/{i}"))

            await asyncio.gather(*(client(i) for i in range(20)))
    finally:
        sys.setswitchinterval(switch)
        listener.close()
    last_sent = max(sent_at.values())
    early = [line for line in sent_at if arrivals[line] < last_sent]
    delays_ms = [(arrivals[line] - sent) * 1000 for line, sent in sent_at.items()]
    assert len(early) >= 10, sorted(delays_ms)


@pytest.fixture
def tls_files(tmp_path):
    """A self-signed certificate for 127.0.0.1 (skips when openssl is not installed)."""
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return str(cert), str(key)


async def test_tls_with_verification_against_a_given_ca(tls_files):
    import ssl

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_reply(b"secure"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with DirectHTTPSession(verify=cert, timeout=(2, 2)) as session:
            await session.prepare(url)
            assert await (await session.send(_request(url, body=b"", method="GET"))).content == b"secure"
        async with DirectHTTPSession(verify=True, timeout=(2, 2)) as session:  # not in the CA bundle
            from botocore.exceptions import SSLError

            with pytest.raises(SSLError):
                await session.send(_request(url, body=b"", method="GET"))
    finally:
        server.close()
        await server.wait_closed()


@pytest.mark.parametrize("close_after_reply", [False, True])
async def test_tls_keep_alive_and_a_server_that_closes_idle_tls_connections(tls_files, close_after_reply):
    """Over TLS (1.3: the server may send session tickets to an idle client, which must not
    make a connection look dead) a kept-alive connection is reused; one the server closed
    after its reply, without saying so, is not, and the next request goes out on a new one."""
    import ssl

    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    connections = []

    async def serve(reader, writer):
        connections.append(writer)
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(_reply(b"secure"))
                await writer.drain()
                if close_after_reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        async with DirectHTTPSession(verify=cert, timeout=(2, 2)) as session:
            for _ in range(4):  # back to back: a FIN may be on the socket, not yet seen by the loop
                assert await (await session.send(_request(url, body=b"", method="GET"))).content == b"secure"
    finally:
        server.close()
        await server.wait_closed()
    assert len(connections) == (4 if close_after_reply else 1)
