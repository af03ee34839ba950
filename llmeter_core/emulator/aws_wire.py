"""What the Bedrock and SageMaker emulators share: AWS-style errors, eventstream responses
and the paced event loop every AWS stream runs.

Errors are what botocore's rest-json parser expects: the HTTP status, an
``x-amzn-ErrorType`` header naming the error (boto3 raises the exception of that name) and a
JSON body with ``message``. Every response carries ``x-amzn-RequestId`` (boto3's
``ResponseMetadata.RequestId``), which is also the ground-truth key.
"""

from __future__ import annotations

from typing import Callable

import orjson
from aiohttp import web

from llmeter_core.emulator.eventstream import EVENTSTREAM_CONTENT_TYPE, encode_message, event_headers, exception_headers
from llmeter_core.emulator.latency import now
from llmeter_core.emulator.pacing import Pacer
from llmeter_core.emulator.state import EmulatorState, Served
from llmeter_core.emulator.wire import json_response, retry_after

__all__ = [
    "aws_error",
    "aws_fault_response",
    "eventstream_response",
    "EventEncoder",
    "run_event_stream",
    "elapsed_ms",
    "first_byte_ms",
]


def aws_error(
    status: int, error_type: str, message: str, request_id: str, headers: dict[str, str] | None = None
) -> web.Response:
    """An AWS error response botocore turns into ``error_type``."""
    all_headers = {"x-amzn-ErrorType": error_type, "x-amzn-RequestId": request_id, **(headers or {})}
    return json_response({"message": message}, status=status, headers=all_headers)


def aws_fault_response(state: EmulatorState, served: Served, server_error_type: str) -> web.Response | None:
    """The immediate error of a 429 (ThrottlingException) or 500 fault, else None."""
    if served.fault == "429":
        return aws_error(
            429,
            "ThrottlingException",
            "Too many requests, please wait before trying again (emulated).",
            served.request_id,
            retry_after(state.config.retry_after_s),
        )
    if served.fault == "500":
        return aws_error(
            500, server_error_type, "The server encountered an internal error (emulated).", served.request_id
        )
    return None


def eventstream_response(request_id: str, headers: dict[str, str] | None = None) -> web.StreamResponse:
    """A streamed ``application/vnd.amazon.eventstream`` response, not yet prepared."""
    return web.StreamResponse(
        headers={"Content-Type": EVENTSTREAM_CONTENT_TYPE, "x-amzn-RequestId": request_id, **(headers or {})}
    )


class EventEncoder:
    """Frames events with header blocks encoded once per event type."""

    def __init__(self) -> None:
        self._headers: dict[tuple[str, str], bytes] = {}

    def event(self, event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
        key = (event_type, content_type)
        headers = self._headers.get(key)
        if headers is None:
            headers = self._headers[key] = event_headers(event_type, content_type)
        return encode_message(headers, payload)

    def exception(self, exception_type: str, body: dict) -> bytes:
        return encode_message(exception_headers(exception_type), orjson.dumps(body))


async def run_event_stream(
    request: web.Request,
    state: EmulatorState,
    served: Served,
    response: web.StreamResponse,
    start_events: Callable[[], list[bytes]],
    token_event: Callable[[int], bytes],
    end_events: Callable[[], list[bytes]],
    error_event: Callable[[], bytes],
    encoder: Callable[[bytes], bytes] | None = None,
) -> web.StreamResponse:
    """Send one paced AWS stream: start events with the first token, a token event at each
    token's due time, end events after the last; a disconnect fault cuts it half-way (an
    ``error_event`` or a dropped connection). ``encoder`` transforms the bytes of each write
    (SageMaker splits them into PayloadPart messages); error events bypass it."""
    schedule = served.schedule
    pacer = Pacer(request, response, served.start, served.truth, encoder)
    n_tokens = schedule.n_tokens
    cut = n_tokens // 2 if served.fault == "disconnect" else n_tokens
    for index in range(cut):
        await pacer.wait(schedule.due(index))
        if index == 0:
            for event in start_events():
                pacer.add(event)
        pacer.add(token_event(index), 1)
    if cut < n_tokens:
        await pacer.wait(schedule.due(cut))
        if state.stream_error_mode("aws") == "drop":
            return await pacer.drop()
        await pacer.flush()
        pacer.encoder = None
        pacer.add(error_event())
        return await pacer.finish()
    for event in end_events():
        pacer.add(event)
    result = await pacer.finish()
    state.truth.finish(served.truth)
    return result


def elapsed_ms(served: Served) -> int:
    """Whole milliseconds since the request started (AWS reports latencies as ints)."""
    return int((now() - served.start) * 1000.0)


def first_byte_ms(served: Served) -> int:
    """When the first token went out, or now if it is still pending (zero latency)."""
    first = served.truth.first_token_ms
    return int(first) if first is not None else elapsed_ms(served)
