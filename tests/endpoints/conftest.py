"""Fixtures of the endpoint tests: OpenAI emulators on the test's loop, a server of canned
responses and a raw HTTP/1.1 server scripted byte by byte (the counter of the TCP connections
a client opens, ``count_connects``, is in tests/conftest.py)."""

import asyncio

import pytest
from aiohttp import web

from llmeter_core.emulator import start_emulator


@pytest.fixture
async def openai_emulator():
    """``await openai_emulator(**config)`` starts an OpenAI emulator; all stop afterwards."""
    started = []

    async def start(**config):
        emu = await start_emulator("openai", config)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


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
