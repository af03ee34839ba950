"""When the emulator read each request off its connection, before aiohttp got to its handler.

A handler's start (``RequestTruth.started_s``) is not when the request arrived: when a wave of
requests comes in at once, aiohttp parses them in the read callbacks and then wakes their
handlers one after another, so the last of 64 can start ~10 ms after its bytes were read on a
busy core. That wait is the server's, part of the time to first token a real server reports
(vLLM counts from the request's arrival), and not the client's error. ``StampingRunner`` puts
a thin protocol in front of each of aiohttp's connection handlers that notes the time
(``latency.now``) of every read, so a handler can say when its request was read
(``read_time``): ``read_s`` in the ground truth. Only public aiohttp and asyncio interfaces are
used: the runner's ``server`` protocol factory and ``transport.get_protocol()``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from llmeter_core.emulator.latency import now

__all__ = ["StampingRunner", "read_time"]


class _ReadStamper(asyncio.Protocol):
    """Forwards every protocol call to aiohttp's handler of the connection; notes ``read_at``,
    the time of the latest read, first."""

    __slots__ = ("_inner", "read_at")

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.read_at: float | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.read_at = now()
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class StampingRunner(web.AppRunner):
    """An ``AppRunner`` whose sites serve each connection through a ``_ReadStamper``."""

    @property
    def server(self) -> Any:
        inner = super().server
        if inner is None:
            return None
        return lambda: _ReadStamper(inner())


def read_time(request: web.Request) -> float | None:
    """The time (``latency.now``) of the latest read on ``request``'s connection (the read that completed
    it, or later); None when it was not served through a ``StampingRunner``."""
    transport = request.transport
    if transport is None:
        return None
    protocol = transport.get_protocol()
    return protocol.read_at if isinstance(protocol, _ReadStamper) else None
