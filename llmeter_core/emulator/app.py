"""Building, starting and stopping an emulator server.

``build_app(kind, config)`` returns the aiohttp application for ``openai``, ``bedrock``,
``sagemaker``, ``anthropic`` or ``all`` (every API on one port; the paths do not collide), plus the
ground-truth routes every kind has:

- ``GET /emulator/stats``: counters (requests by API, faults by kind, tokens) and the config.
- ``POST /emulator/reset``: clear counters and records and re-seed.
- ``GET /emulator/requests/{request_id}``: what one request was served (404 if unknown).

``start_emulator`` runs it on the current loop (async tests); ``EmulatorThread`` runs it on a
loop in a background thread (sync tests, demos). A benchmark that measures a client's CPU
should run the emulator in another process (the CLI), since a thread shares the GIL.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from llmeter_core.emulator.config import EmulatorConfig
from llmeter_core.emulator.read_stamps import StampingRunner
from llmeter_core.emulator.state import STATE_KEY, EmulatorState, capacity_middleware
from llmeter_core.emulator.wire import json_response

__all__ = ["KINDS", "build_app", "start_emulator", "RunningEmulator", "EmulatorThread"]

KINDS = ("openai", "bedrock", "sagemaker", "anthropic", "all")

_MAX_BODY_BYTES = 64 * 1024 * 1024


def _coerce_config(config: EmulatorConfig | dict | None, overrides: dict[str, Any]) -> EmulatorConfig:
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, EmulatorConfig):
        data = config.to_dict()
    else:
        data = dict(config)
    data.update(overrides)
    return EmulatorConfig.from_dict(data)


async def _stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    return json_response({"kind": state.kind, **state.truth.stats(), "config": state.config.to_dict()})


async def _reset(request: web.Request) -> web.Response:
    request.app[STATE_KEY].reset()
    return json_response({"reset": True})


async def _request_truth(request: web.Request) -> web.Response:
    truth = request.app[STATE_KEY].truth.get(request.match_info["request_id"])
    if truth is None:
        return json_response({"message": "unknown request id"}, status=404)
    return json_response(truth.to_dict())


def build_app(kind: str = "openai", config: EmulatorConfig | dict | None = None, **overrides: Any) -> web.Application:
    """The aiohttp application of one emulator kind (``KINDS``)."""
    if kind not in KINDS:
        raise ValueError(f"unknown emulator kind {kind!r}; expected one of {KINDS}")
    state = EmulatorState(kind, _coerce_config(config, overrides))
    app = web.Application(client_max_size=_MAX_BODY_BYTES, middlewares=[capacity_middleware])
    app[STATE_KEY] = state
    app.router.add_get("/emulator/stats", _stats)
    app.router.add_post("/emulator/reset", _reset)
    app.router.add_get("/emulator/requests/{request_id}", _request_truth)
    if kind in ("openai", "all"):
        from llmeter_core.emulator.openai_handlers import add_openai_routes

        add_openai_routes(app)
    if kind in ("bedrock", "all"):
        from llmeter_core.emulator.bedrock_handlers import add_bedrock_routes

        add_bedrock_routes(app)
    if kind in ("sagemaker", "all"):
        from llmeter_core.emulator.sagemaker_handlers import add_sagemaker_routes

        add_sagemaker_routes(app)
    if kind in ("anthropic", "all"):
        from llmeter_core.emulator.anthropic_handlers import add_anthropic_routes

        add_anthropic_routes(app)
    return app


@dataclass
class RunningEmulator:
    """A started emulator: its URL, port, state (ground truth) and ``stop()``."""

    host: str
    port: int
    runner: web.AppRunner
    state: EmulatorState

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def stats(self) -> dict[str, Any]:
        """Same as ``GET /emulator/stats`` without the HTTP round trip (call on the loop)."""
        return {"kind": self.state.kind, **self.state.truth.stats(), "config": self.state.config.to_dict()}

    async def stop(self) -> None:
        await self.runner.cleanup()

    async def __aenter__(self) -> "RunningEmulator":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def start_emulator(
    kind: str = "openai",
    config: EmulatorConfig | dict | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    **overrides: Any,
) -> RunningEmulator:
    """Serve an emulator on the running loop; ``port=0`` picks a free port."""
    app = build_app(kind, config, **overrides)
    # A short shutdown timeout: stopping must not wait out streams still being served. Each
    # connection's reads are stamped (read_stamps.py): when a request arrived, not only when
    # its handler started.
    runner = StampingRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=2048)
    await site.start()
    bound_port = runner.addresses[0][1]
    return RunningEmulator(host, bound_port, runner, app[STATE_KEY])


class EmulatorThread:
    """An emulator on its own event loop in a daemon thread; a context manager.

    ``with EmulatorThread("openai", ttft_ms=0) as emu: ... emu.url ... emu.stats()``.
    """

    def __init__(
        self,
        kind: str = "openai",
        config: EmulatorConfig | dict | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        **overrides: Any,
    ):
        self.kind = kind
        self.config = _coerce_config(config, overrides)
        self.host = host
        self._port = port
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._running: RunningEmulator | None = None
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self._require().url

    @property
    def port(self) -> int:
        return self._require().port

    def _require(self) -> RunningEmulator:
        if self._running is None:
            raise RuntimeError("the emulator is not running; use start() or a with block")
        return self._running

    def start(self) -> "EmulatorThread":
        self._thread = threading.Thread(target=self._run, name=f"emulator-{self.kind}", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._stop_event = asyncio.Event()
            self._running = loop.run_until_complete(start_emulator(self.kind, self.config, self.host, self._port))
        except BaseException as exc:  # reported to start()
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_until_complete(self._stop_event.wait())
            loop.run_until_complete(self._running.stop())
        finally:
            loop.close()

    def _call(self, func: Any) -> Any:
        """Run ``func()`` on the emulator's loop and return its result."""
        running = self._require()
        assert self._loop is not None

        async def call() -> Any:
            return func(running)

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(timeout=10)

    def stats(self) -> dict[str, Any]:
        """The ``/emulator/stats`` dict, read safely from another thread."""
        return self._call(lambda running: running.stats())

    def request_truth(self, request_id: str) -> dict[str, Any] | None:
        """The ground-truth record of one request, or None."""
        return self._call(lambda running: t.to_dict() if (t := running.state.truth.get(request_id)) else None)

    def reset(self) -> None:
        self._call(lambda running: running.state.reset())

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._stop_event is None:
            return
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop_event.set)
            self._thread.join(timeout=10)
        self._thread = None

    def __enter__(self) -> "EmulatorThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
