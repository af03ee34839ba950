"""The start every emulator handler shares: parse the body, begin the request, answer an
immediate fault, wait out a slow first byte.

A handler calls ``begin_request`` with what differs between APIs (how to read the prompt size
and the token cap from its body, its error responses) and gets back a ``Started``: either
the response to send at once (a body that is not JSON, a 429 or 500 fault) or the request to
serve. A new API's handler calls it the same way::

    started = await begin_request(request, "myapi.chat", read_my_body, stream=False,
                                  invalid_body=my_400, fault_response=my_fault)
    if started.response is not None:
        return started.response
    served = started.served
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from aiohttp import web

from llmeter_core.emulator.latency import now, wait_until
from llmeter_core.emulator.read_stamps import read_time
from llmeter_core.emulator.state import STATE_KEY, EmulatorState, Served
from llmeter_core.emulator.wire import read_json

__all__ = ["Started", "begin_request"]

#: Reads ``(prompt words, token cap or None)`` from a request body.
BodyReader = Callable[[dict[str, Any]], tuple[int, "int | None"]]


@dataclass(slots=True)
class Started:
    """A request after its prologue: ``response`` to send at once, or ``served`` to serve."""

    state: EmulatorState
    body: dict[str, Any]
    served: Served | None = None
    response: web.Response | None = None


async def begin_request(
    request: web.Request,
    api: str,
    read: BodyReader,
    *,
    stream: bool | None = None,
    id_prefix: str = "",
    caches: bool = True,
    invalid_body: Callable[[EmulatorState], web.Response],
    fault_response: Callable[[EmulatorState, Served], web.Response | None],
) -> Started:
    """Start serving ``request`` of ``api``.

    The clock starts first (token times count from here); then the body is read (not a JSON
    object: ``invalid_body``), the request begins (``EmulatorState.begin``: its fault,
    schedule and ground truth), an immediate fault is answered (``fault_response``), and a
    ``slow_first_byte`` fault waits before anything is sent. ``stream``: whether the API
    streams, or None for the body's own ``stream`` flag (OpenAI). ``caches=False``: this model
    family has no prompt cache (its ground truth counts no cached tokens). A request that will
    be served gets its ground-truth ``finish_reason`` (``length`` when its cap cut it).
    """
    start = now()
    read_at = read_time(request)
    state = request.app[STATE_KEY]
    body = await read_json(request)
    if body is None:
        return Started(state, {}, response=invalid_body(state))
    words, cap = read(body)
    served = state.begin(
        api,
        bool(body.get("stream")) if stream is None else stream,
        start,
        words,
        cap,
        id_prefix,
        body=body,
        read_at=read_at,
    )
    if not caches:
        served.truth.cached_tokens = served.truth.cache_write_tokens = 0
    error = fault_response(state, served)
    if error is not None:
        return Started(state, body, served, error)
    served.truth.finish_reason = "length" if served.schedule.truncated else "stop"
    if served.schedule.first_byte_s:
        await wait_until(start + served.schedule.first_byte_s)
    return Started(state, body, served)
