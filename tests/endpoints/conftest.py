"""Fixtures of the endpoint tests: OpenAI emulators on the test's loop, a server of canned
responses, and a counter of the TCP connections a client opens."""

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
async def count_connects(monkeypatch):
    """Count the TCP connections the client opens (``loop.create_connection`` calls)."""
    loop = asyncio.get_running_loop()
    original = loop.create_connection
    calls = []

    async def counting(*args, **kwargs):
        calls.append(1)
        return await original(*args, **kwargs)

    monkeypatch.setattr(loop, "create_connection", counting)
    return calls
