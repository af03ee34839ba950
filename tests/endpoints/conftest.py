"""Fixtures of the endpoint tests: servers of canned responses (SSE and eventstream) and a raw
HTTP/1.1 server scripted byte by byte. ``emulator``, ``aws_env`` and ``count_connects`` are in
tests/conftest.py."""

import asyncio

import pytest
from aiohttp import web


@pytest.fixture
async def canned():
    """``await canned(path, pieces, status, content_type)``: a server answering every POST to
    ``path`` with the given body pieces (SSE by default); returns its ``.../v1`` base URL."""
    runners = []

    async def start(path: str, pieces: list[bytes], status: int = 200, content_type: str = "text/event-stream"):
        async def handler(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(status=status, headers={"Content-Type": content_type})
            await response.prepare(request)
            for piece in pieces:
                await response.write(piece)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post(path, handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}/v1"

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture
async def raw_server():
    """``await raw_server(handler)``: ``handler(reader, writer, n)`` serves the n-th request of
    each connection (it must read the request itself). Returns (url, connection count list)."""
    servers = []

    async def start(handler):
        connections = []

        async def serve(reader, writer):
            connections.append(writer)
            n = 0
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    length = 0
                    for line in head.split(b"\r\n"):
                        if line.lower().startswith(b"content-length:"):
                            length = int(line.split(b":")[1])
                    if length:
                        await reader.readexactly(length)
                    keep = await handler(reader, writer, n)
                    n += 1
                    if keep is False:
                        break
            except (asyncio.IncompleteReadError, ConnectionError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        servers.append(server)
        return f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def canned_eventstream(aws_env):
    """``await canned_eventstream(messages, request_id=..., delay=...)`` serves every POST with
    the given eventstream messages, written one by one ``delay`` seconds apart."""
    runners = []

    async def start(messages: list[bytes], request_id: str = "canned-request-1", delay: float = 0.0) -> str:
        async def handler(request: web.Request) -> web.StreamResponse:
            await request.read()
            response = web.StreamResponse(
                headers={"Content-Type": "application/vnd.amazon.eventstream", "x-amzn-RequestId": request_id}
            )
            await response.prepare(request)
            for message in messages:
                if delay:
                    await asyncio.sleep(delay)
                await response.write(message)
            await response.write_eof()
            return response

        app = web.Application()
        app.router.add_post("/{tail:.*}", handler)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    yield start
    for runner in runners:
        await runner.cleanup()
