"""Writing a response's bytes on schedule, coalescing whatever is already due.

``Pacer.wait(offset)`` flushes what is pending and sleeps until ``start + offset`` only when
that moment is still ahead; bytes of tokens that are already due go out in one write. A
response whose every part is due at once (zero latency) is never streamed: ``finish``
returns it as one plain ``web.Response``, one write instead of one per chunk. Response
headers go out at the first wait that actually sleeps, i.e. before the first token when the
TTFT is positive, as a real server does.

Also here: ``wait_for_whole_reply`` (the timing of a non-streamed reply) and
``client_may_leave`` (a client hanging up is counted, not logged as a server error).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Awaitable, Callable

from aiohttp import web

from llmeter_core.emulator.ground_truth import RequestTruth
from llmeter_core.emulator.latency import now, wait_until
from llmeter_core.emulator.state import STATE_KEY, Served

__all__ = ["Pacer", "drop_connection", "client_may_leave", "wait_for_whole_reply"]


class Pacer:
    """Schedules the writes of one streamed response and records what was sent when."""

    __slots__ = (
        "_request",
        "_response",
        "_start",
        "_truth",
        "_pending",
        "_pending_tokens",
        "_pending_content",
        "_prepared",
        "_budget",
        "encoder",
    )

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        start: float,
        truth: RequestTruth,
        encoder: Callable[[bytes], bytes] | None = None,
    ):
        self._request = request
        self._response = response
        self._start = start
        self._truth = truth
        self._pending: list[bytes] = []
        self._pending_tokens = 0
        self._pending_content = False
        self._prepared = False
        self._budget = request.app[STATE_KEY].token_budget
        #: Applied to each write's joined bytes (e.g. to frame them as eventstream messages);
        #: set it to None to send bytes unchanged from then on.
        self.encoder = encoder

    def add(self, data: bytes, tokens: int = 0, content: bool = True) -> None:
        """Queue bytes (carrying ``tokens`` output tokens: answer tokens, or reasoning tokens
        with ``content=False``) for the next write."""
        self._pending.append(data)
        self._pending_tokens += tokens
        if tokens:
            if content:
                self._pending_content = True
            else:
                self._truth.reasoning_sent += tokens

    async def wait(self, offset_s: float) -> None:
        """Flush and sleep until ``offset_s`` after the request's start, if that is ahead.

        Each call stands for the next token; with a shared ``tokens_per_second`` budget it
        waits for that token's slot too (``token_budget.py``)."""
        due = self._start + offset_s
        if self._budget is not None:
            due = self._budget.reserve(due)
        if due > now():
            await self.flush()
            delay = due - now()
            if delay > 0:
                await asyncio.sleep(delay)

    async def flush(self) -> None:
        """Send the headers (once) and whatever is pending."""
        if not self._prepared:
            self._prepared = True
            await self._response.prepare(self._request)
        if not self._pending:
            return
        data = b"".join(self._pending) if len(self._pending) > 1 else self._pending[0]
        self._pending.clear()
        if self.encoder is not None:
            data = self.encoder(data)
        # Stamped before the write, recorded after it: once written the client may see the
        # bytes before this thread runs again (an emulator thread waits for the GIL), and a
        # write that fails (the client left) sent no tokens.
        written_at = now()
        await self._response.write(data)
        if self._pending_tokens:
            self._record(self._pending_tokens, written_at)
            self._pending_tokens = 0

    def _record(self, tokens: int, written_at: float) -> None:
        truth = self._truth
        elapsed_ms = (written_at - self._start) * 1000.0
        if truth.tokens_sent == 0:
            truth.first_token_ms = elapsed_ms
        elif truth.last_token_ms is not None and elapsed_ms - truth.last_token_ms > truth.max_gap_ms:
            truth.max_gap_ms = elapsed_ms - truth.last_token_ms
        truth.last_token_ms = elapsed_ms
        truth.tokens_sent += tokens
        if self._pending_content:
            self._pending_content = False
            if truth.first_content_ms is None:
                truth.first_content_ms = elapsed_ms

    def _ended(self, at: float) -> None:
        self._truth.end_ms = (at - self._start) * 1000.0

    async def finish(self) -> web.StreamResponse:
        """Send the rest and end the response; unstreamed responses go out as one body."""
        if not self._prepared:
            body = b"".join(self._pending)
            self._pending.clear()
            if self.encoder is not None:
                body = self.encoder(body)
            if self._pending_tokens:
                self._record(self._pending_tokens, now())
                self._pending_tokens = 0
            self._ended(now())
            response = self._response
            return web.Response(body=body, status=response.status, headers=response.headers)
        await self.flush()
        ending_at = now()  # stamped before the write, like the tokens (flush)
        await self._response.write_eof()
        self._ended(ending_at)
        return self._response

    async def drop(self) -> web.StreamResponse:
        """Send what is pending, then cut the connection without ending the response."""
        await self.flush()
        drop_connection(self._request)
        return self._response


def drop_connection(request: web.Request) -> None:
    """Close the client's connection abruptly (no end of body, no chunked terminator)."""
    transport = request.transport
    if transport is not None:
        transport.abort()


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def client_may_leave(handler: Handler) -> Handler:
    """Wrap a streaming handler so a client that hangs up mid-stream (a cancelled request, a
    client timeout) is counted in ``client_aborted`` instead of logged as a server error."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ConnectionResetError:
            request.app[STATE_KEY].truth.client_aborted += 1
            return web.Response(status=499)  # never delivered: the client is gone

    return wrapper


async def wait_for_whole_reply(request: web.Request, served: Served) -> bool:
    """Wait until a non-streamed reply is complete; False if a disconnect fault dropped it.

    Records the tokens as sent when the reply is due (the caller returns it at once).
    """
    schedule = served.schedule
    if served.fault == "disconnect":
        await wait_until(served.start + schedule.ttft_s)
        drop_connection(request)
        return False
    done = served.start + schedule.due(schedule.n_tokens - 1)
    budget = request.app[STATE_KEY].token_budget
    if budget is not None:  # the reply's tokens take their slots from its first token's due time
        done = max(done, budget.reserve(served.start + schedule.ttft_s, schedule.n_tokens))
    await wait_until(done)
    truth = served.truth
    truth.tokens_sent = schedule.n_tokens
    truth.first_token_ms = truth.last_token_ms = (now() - served.start) * 1000.0
    truth.first_content_ms = truth.end_ms = truth.first_token_ms
    return True
