"""The runner: closed-loop clients sending payloads to one endpoint, bounded by a count or a
duration, recording every response.

How a run goes:

1. Every option is checked and the payloads are read before anything is sent: bad input is a
   ``ConfigError`` naming the field.
2. ``endpoint.open()`` builds the connection pool; optional warm-up requests (per client) are
   sent and discarded.
3. ``clients`` asyncio tasks each loop: ask the bound, pick the next payload of their own
   shuffle, await ``Endpoint.call``, record the response. A client is cancelled (to end or
   interrupt a run) only while it is inside ``Endpoint.call``, which records that request
   as ``incomplete``. Recording is synchronous
   and small (token fallback, stats update, one jsonl line into a buffer).
4. The run ends when the bound says so. At the end of a duration, ``drain`` (default) stops
   sending and waits up to ``grace_period`` for requests in flight; ``cancel`` aborts them,
   and they are recorded as ``incomplete``. SIGINT/SIGTERM (or ``request_stop()`` from any
   thread) stops sending at once, cancels what is in flight, keeps everything measured and
   marks the run ``interrupted``. A client yields to the event loop after every failed call,
   backs off on repeated connect failures and the run stops when the endpoint is unreachable
   (``connect_failures``).
5. summary.json then stats.json are written and a remote run folder is uploaded. The first
   failed write (disk full...) stops sending like an interrupt; what was measured is still
   saved if at all possible, then ``WriteError`` says what failed (see ``storage.py``).

Per-request timing belongs to ``Endpoint.call``; the runner only decides when to send.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Awaitable, Iterable, Iterator, Sequence, cast

import numpy as np

from . import event_loop
from .bounds import Bound
from .callbacks import Callback
from .checks import (
    MAX_REQUESTS_PER_CLIENT,
    MAX_WAIT_S,
    MIN_LIVE_INTERVAL_S,
    SEED_RANGE,
    Problems,
    check_int,
    check_seconds,
    typed_options,
)
from .clock import now_ns, to_datetime, utc_now
from .connect_failures import DEFAULT_MAX_CONSECUTIVE, ClientBackoff, ConnectFailures
from .endpoints.base import Endpoint
from .errors import ConfigError, WriteError
from .live import LiveSink, LiveSnapshot
from .load_plan import LoadPlan
from .monitor import GeneratorMonitor, verdict
from .openloop import LEAD_NS, OpenLoop, default_max_concurrency
from .payloads import PayloadSource, client_order, describe_source, load_payloads
from .response import STREAM, TOKENIZER, UNSENT, USAGE, InvocationResponse
from .results import Result
from .signals import install_stop_handlers
from .slo import SLO
from .start_gate import StartGate
from .stats import RunningStats
from .storage import RunFolder, default_run_name
from .tokenizers import Tokenizer, WhitespaceTokenizer, count_tokens, describe_tokenizer

__all__ = ["Runner", "END_MODES"]

log = logging.getLogger(__name__)

END_MODES = ("drain", "cancel")
_RUN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=+-]*$")


class Runner:
    """One load-test run. Build it, then ``await runner.run()`` (or ``run_sync()``).

    ``n_requests`` is per client; exactly one of ``n_requests`` and ``run_duration``
    (seconds or timedelta) bounds the run. ``output_path`` is any fsspec URL; the run folder
    is ``<output_path>/<run_name>/``. Without an output path nothing is written to disk.
    """

    @typed_options(skip=frozenset({"endpoint", "payload", "tokenizer", "slo"}))
    def __init__(
        self,
        endpoint: Endpoint,
        payload: PayloadSource,
        *,
        clients: int | None = None,
        n_requests: int | None = None,
        run_duration: float | timedelta | None = None,
        output_path: str | Path | None = None,
        run_name: str | None = None,
        run_description: str | None = None,
        timeout: float | None = 60.0,
        warmup_requests: int = 0,
        end_mode: str = "drain",
        grace_period: float = 30.0,
        callbacks: Sequence[Callback] = (),
        tokenizer: Tokenizer | None = None,
        low_memory: bool = False,
        live_interval: float = 5.0,
        live_sinks: Iterable[LiveSink] = (),
        display: bool = False,
        seed: int = 0,
        handle_signals: bool = True,
        max_consecutive_connect_failures: int = DEFAULT_MAX_CONSECUTIVE,
        rate: float | None = None,
        arrival: str = "constant",
        burstiness: float | None = None,
        ramp_up: float = 0.0,
        max_concurrency: int | None = None,
        warmup_seconds: float = 0.0,
        slo: SLO | dict[str, Any] | None = None,
        stagger: float = 0.0,
        shards: int = 1,
        shard_index: int | None = None,
        start_at: datetime | None = None,
        shard_pool: str | None = None,
    ):
        if not isinstance(endpoint, Endpoint):
            raise ConfigError("endpoint", f"expected an Endpoint, got {type(endpoint).__name__}")
        endpoint.check_available()  # a missing optional package: refused before any folder exists
        problems = Problems()  # every problem at once; the limits are documented in checks.py
        with problems.collect():  # closed-loop clients or an open-loop rate, and the run's bound
            plan = LoadPlan.build(
                clients=clients,
                rate=rate,
                arrival=arrival,
                burstiness=burstiness,
                ramp_up=ramp_up,
                max_concurrency=max_concurrency,
                warmup_requests=warmup_requests,
                warmup_seconds=warmup_seconds,
                stagger=stagger,
                n_requests=n_requests,
                run_duration=run_duration,
                seed=seed,
                shards=shards,
                shard_index=shard_index,
            )
        with problems.collect():
            check_int("warmup_requests", warmup_requests, minimum=0, maximum=MAX_REQUESTS_PER_CLIENT)
        with problems.collect():
            check_int("seed", seed, *SEED_RANGE)
        if timeout is not None:
            with problems.collect():
                check_seconds("timeout", timeout, maximum=MAX_WAIT_S)
        with problems.collect():
            check_int("max_consecutive_connect_failures", max_consecutive_connect_failures, minimum=0)
        if end_mode not in END_MODES:
            problems.add("end_mode", f"must be one of {', '.join(END_MODES)}, got {end_mode!r}")
        with problems.collect():
            check_seconds("grace_period", grace_period, maximum=MAX_WAIT_S, allow_zero=True)
        with problems.collect():
            check_seconds("live_interval", live_interval, maximum=MAX_WAIT_S, minimum=MIN_LIVE_INTERVAL_S)
        if run_name is not None and not _RUN_NAME.match(str(run_name)):
            problems.add("run_name", f"use letters, digits and . _ = + - only (it names a folder), got {run_name!r}")
        for callback in callbacks:
            if not isinstance(callback, Callback):
                problems.add("callbacks", f"{callback!r} is not a llmeter_core.Callback")
        if tokenizer is not None and not callable(getattr(tokenizer, "encode", None)):
            problems.add("tokenizer", "must have an encode(text) method")
        with problems.collect():
            self.slo = SLO.parse(slo)
        problems.raise_if_any("invalid options")
        # the per-request SLO rule, or None: one call per response in _record
        self._slo_met = self.slo.checker(open_loop=plan.schedule is not None) if self.slo else None
        self.plan = plan
        for name, value in plan.to_config().items():  # rate, arrival... as attributes, as given
            if name != "load_mode":
                setattr(self, name, value)
        clients = plan.clients
        self.bound: Bound = plan.bound

        self.endpoint = endpoint
        self.payload_source = payload
        self.payloads = load_payloads(payload)
        self.clients = clients
        self.n_requests = n_requests
        self.run_duration = self.bound.run_duration
        self.output_path = str(output_path) if output_path is not None else None
        self.run_name = run_name or default_run_name()
        self.run_description = run_description
        self.timeout = float(timeout) if timeout is not None else None
        self.warmup_requests = warmup_requests
        self.end_mode = end_mode
        self.grace_period = float(grace_period)
        self.callbacks = list(callbacks)
        self.tokenizer: Tokenizer = tokenizer or WhitespaceTokenizer()
        #: A real tokenizer was configured: it, not the stream's chunks, counts a stream's output.
        self._counting_tokenizer = not isinstance(self.tokenizer, WhitespaceTokenizer)
        self.low_memory = low_memory
        self.live_interval = float(live_interval)
        self.live_sinks = list(live_sinks)
        self.display = display
        self.seed = seed
        self.handle_signals = handle_signals
        self.max_consecutive_connect_failures = max_consecutive_connect_failures
        self._connect_failures = ConnectFailures(max_consecutive_connect_failures)

        self._folder = RunFolder(self.output_path, self.run_name) if self.output_path is not None else None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping = False
        self._interrupted = False
        self._inflight: set[asyncio.Task[Any]] = set()  # client tasks inside Endpoint.call
        self._sent = 0
        self._unsent = 0  # closed loop: requests cancelled before they were written
        self._done = 0
        self._started_ns = 0
        self._stats = RunningStats()
        self._responses: list[InvocationResponse] = []
        self._result: Result | None = None
        self._grace_timer: asyncio.TimerHandle | None = None
        self._ran = False
        self._max_in_flight = 0
        self._open_loop: OpenLoop | None = None
        self._open_backoff = ClientBackoff()  # connect failures of open-loop sends (never waited on)
        self._monitor = GeneratorMonitor()
        # a shard of a sharded run starts its measured load at start_at (start_gate.py)
        lead = LEAD_NS if plan.schedule is not None else 0
        self._gate = StartGate(start_at, lead) if start_at is not None else None
        self.shard_pool = shard_pool  # where the shards ran (recorded; the flows start them)

    # -- control ------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Interrupt the run from any thread or signal handler: stop sending, cancel what is in
        flight, keep everything measured, mark the run interrupted."""
        loop = self._loop
        if loop is None or loop.is_closed():
            self._interrupted = self._stopping = True
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            self._interrupt()
        else:
            loop.call_soon_threadsafe(self._interrupt)

    @property
    def interrupted(self) -> bool:
        return self._interrupted

    def run_config(self) -> dict[str, Any]:
        """run_config.json: every option, the endpoint's public settings; no secrets."""
        return {
            "run_name": self.run_name,
            "run_description": self.run_description,
            "endpoint": self.endpoint.to_config(),
            "tokenizer": describe_tokenizer(self.tokenizer),
            "clients": self.clients,
            **self.plan.to_config(),
            "n_requests": self.n_requests,
            "run_duration": self.run_duration,
            "payload": describe_source(self.payload_source),
            "payload_count": len(self.payloads),
            "timeout": self.timeout,
            "warmup_requests": self.warmup_requests,
            "end_mode": self.end_mode,
            "grace_period": self.grace_period,
            "callbacks": [c.to_config() for c in self.callbacks],
            "low_memory": self.low_memory,
            "live_interval": self.live_interval,
            "seed": self.seed,
            "max_consecutive_connect_failures": self.max_consecutive_connect_failures,
            "slo": self.slo.model_dump() if self.slo else None,
            "event_loop": event_loop.loop_kind(),
            "output_path": self._folder.url if self._folder else None,
            "shard_pool": self.shard_pool,
            **(self._gate.config() if self._gate is not None else {}),
        }

    def run_sync(self) -> Result:
        """Run in a new event loop (for scripts and the CLI): uvloop where it is installed,
        unless ``LLMETER_EVENT_LOOP`` says otherwise (``event_loop.py``)."""
        return event_loop.run(self.run())

    # -- the run --------------------------------------------------------------------------
    async def run(self) -> Result:
        if self._ran:
            raise ConfigError("runner", "a Runner runs once; build a new one for another run")
        self._ran = True
        folder = self._folder
        if folder is not None:
            await asyncio.to_thread(folder.claim)
            folder.on_failure = self._interrupt  # the first failed write stops sending
        self._loop = asyncio.get_running_loop()
        display = None
        if self.display:
            from .display import LiveDisplay

            display = LiveDisplay().__enter__()
            self.live_sinks.append(display)
        restore_signals = install_stop_handlers(self._interrupt) if self.handle_signals else (lambda: None)
        start_time = utc_now()
        raised = True
        try:
            if folder is not None:
                folder.open()
                folder.write_json("run_config.json", self.run_config())
                folder.write_lines("payload.jsonl", (_dumps(p) for p in self.payloads))
            if folder is None or folder.failure is None:
                await self.endpoint.open(clients=self.plan.connections())  # warm connections: one per client
                try:
                    for callback in self.callbacks:
                        await callback.before_run(self)
                    await self._warm_up()
                    if self._gate is not None:
                        await self._gate.wait(lambda: self._stopping)
                    start_time = utc_now()
                    self._started_ns = now_ns()
                    await self._run_clients()
                finally:
                    await self.endpoint.aclose()
            raised = False
        finally:
            restore_signals()
            if folder is not None:
                folder.on_failure = None  # sending is over: a failure now does not interrupt the run
                folder.close()  # every response on disk (or counted as unwritten) before the stats
            result = self._finish_result(start_time)
            try:
                for callback in self.callbacks:
                    await callback.after_run(result)
            finally:
                contributed: dict[str, Any] = {}
                for callback in self.callbacks:
                    contributed.update(callback.contributed_stats())
                if folder is not None and folder.unwritten:
                    contributed["responses_not_written"] = folder.unwritten
                contributed.update(self._connect_failures.stats())
                contributed.update(self._generator_stats())
                if self._gate is not None:
                    contributed.update(self._gate.stats())
                result.compute_stats(self._stats, contributed)
                if self.slo is not None:
                    result.stats.update(self.slo.stats(self._stats, result.stats))
                await self._emit(final=True)
                if display is not None:
                    display.__exit__(None, None, None)
                if folder is None:
                    pass
                elif raised and self._sent == 0 and folder.failure is None:
                    folder.discard()  # nothing was sent: leave no folder that blocks the run name
                else:
                    saved = folder.save(result.summary(), result.stats)
                    if folder.failure is not None and not raised:
                        raise WriteError(
                            folder.failure_report(result.total_requests or 0, saved),
                            local_path=str(folder.path),
                            result=result,
                        )
                    if not raised:
                        result.output_path = await folder.publish(self.handle_signals)
        return result

    async def _warm_up(self) -> None:
        """Warm-up requests, sent and discarded: ``warmup_requests`` per client (closed loop) or
        ``warmup_seconds`` of the schedule (open loop)."""
        if self._stopping:
            return
        if self.plan.schedule is not None:
            warm = self.plan.warmup_schedule()
            if warm is not None:
                order = self._schedule_order(self.seed + 7919)
                await OpenLoop(
                    warm, order, self._warm_up_one, lambda: self._stopping, self._max_concurrency(), self.plan.shard
                ).run()
            return
        if not self.warmup_requests:
            return

        async def one_client(client: int) -> None:
            order = client_order(self.payloads, client, self.seed + 7919)
            for _ in range(self.warmup_requests):
                if self._stopping:
                    return
                await self._warm_up_one(next(order))

        await asyncio.gather(*(asyncio.ensure_future(one_client(c)) for c in self.plan.client_ids()))

    async def _warm_up_one(self, payload: dict[str, Any], scheduled_ns: int | None = None) -> bool:
        me = _this_task()
        self._inflight.add(me)
        try:
            await self.endpoint.call(payload, self.timeout)
        finally:
            self._inflight.discard(me)
        return True

    async def _run_clients(self) -> None:
        """Send the measured load: ``clients`` closed-loop clients, or the open-loop schedule."""
        loop = asyncio.get_running_loop()
        ticker = loop.create_task(self._tick())
        timers: list[asyncio.TimerHandle] = []
        # an open-loop schedule starts a little ahead, so its first send is not already late
        lead_s = LEAD_NS / 1e9 if self.plan.schedule is not None else 0.0
        if self.bound.run_duration is not None:
            timers.append(loop.call_later(self.bound.run_duration + lead_s, self._end_of_duration))
        self._monitor.start()
        if self.plan.schedule is not None:
            self._open_loop = OpenLoop(
                self.plan.schedule,
                self._schedule_order(self.seed),
                self._send_scheduled,
                lambda: self._stopping,
                self._max_concurrency(),
                self.plan.shard,
            )
            senders = [loop.create_task(self._open_loop.run(self._started_ns + LEAD_NS))]
        else:
            offsets = self.plan.client_start_offsets
            senders = [
                loop.create_task(self._client(c, offsets[c] if offsets else 0.0)) for c in self.plan.client_ids()
            ]
        try:
            await asyncio.gather(*senders)
        finally:
            self._stopping = True
            self._monitor.stop()
            if self._open_loop is not None:
                self._open_loop.stop()
            for timer in timers:
                timer.cancel()
            if self._grace_timer is not None:
                self._grace_timer.cancel()
            for task in senders:
                task.cancel()
            ticker.cancel()
            await asyncio.gather(ticker, *senders, return_exceptions=True)

    def _max_concurrency(self) -> int:
        """The open-loop cap on requests in flight: ``load.max_concurrency``, or by default
        ``openloop.default_max_concurrency()`` (without a cap, a generator that falls behind
        launches every late send at once, each opening its own connection, and collapses)."""
        return self.plan.max_concurrency or default_max_concurrency()

    def _schedule_order(self, seed: int) -> Iterator[dict[str, Any]]:
        """The payloads of an open-loop schedule, one per send; a shard takes the payloads of
        its own sends (every ``count``-th), so together the shards send one run's payloads."""
        order = client_order(self.payloads, 0, seed)
        shard = self.plan.shard
        return itertools.islice(order, shard[0], None, shard[1]) if shard else order

    async def _send(self, payload: dict[str, Any], scheduled_ns: int | None) -> InvocationResponse | None:
        """One measured request, the same for both kinds of load: ``before_invoke`` callbacks,
        the call, the response completed, ``after_invoke``, recorded. None if the run stopped
        before it was sent, or ended while it still waited for its connection (``unsent``)."""
        for callback in self.callbacks:
            replaced = await callback.before_invoke(payload)
            if replaced is not None:
                payload = replaced
        if self._stopping:
            return None
        self._sent += 1
        inflight = self._inflight
        me = _this_task()
        inflight.add(me)
        if len(inflight) > self._max_in_flight:
            self._max_in_flight = len(inflight)
        try:
            response = await self.endpoint.call(payload, self.timeout)
        finally:
            inflight.discard(me)
        if response.error_type == UNSENT:  # cancelled before it was written: not a request
            self._sent -= 1
            self._unsent += 1
            return None
        if scheduled_ns is not None:
            _from_schedule(response, scheduled_ns)
        self._complete(response)
        for callback in self.callbacks:
            await callback.after_invoke(response)
        self._record(response)
        return response

    async def _client(self, client: int, start_offset: float = 0.0) -> None:
        """A closed-loop client: its first request ``start_offset`` seconds after the start
        (``stagger``), its next one when its last one ended."""
        if start_offset:
            await asyncio.sleep(start_offset)
        order = client_order(self.payloads, client, self.seed)
        bound = self.bound
        send = self._send
        failures = self._connect_failures
        backoff = ClientBackoff()
        sent = 0
        while not self._stopping and bound.allows(sent):
            response = await send(next(order), None)
            if response is None:
                break
            sent += 1
            if response.error_type is None:  # it waited for the server's answer, so it yielded
                if failures.in_a_row or backoff.error is not None:
                    failures.succeeded(backoff)
                continue
            # A failed call can come back without ever yielding (EMFILE inside create_connection,
            # a payload the endpoint refuses): a client that did not yield here would starve the
            # loop, and no timer, signal or deadline would run. Repeated connect failures wait.
            delay = failures.after_failure(response, backoff, self._stopping)
            if failures.stop_reason is not None and not self._stopping:
                self._stop_unreachable(failures.stop_reason)
            await asyncio.sleep(delay)

    async def _send_scheduled(self, payload: dict[str, Any], scheduled_ns: int) -> bool:
        """An open-loop send; False if it was never sent. Connect failures count towards the
        unreachable-endpoint stop, but never delay the schedule (no back-off: the next send
        keeps its time)."""
        response = await self._send(payload, scheduled_ns)
        if response is None:
            return False
        failures = self._connect_failures
        if response.error_type is None:
            if failures.in_a_row:
                failures.succeeded(self._open_backoff)
            return True
        failures.after_failure(response, self._open_backoff, self._stopping)
        if failures.stop_reason is not None and not self._stopping:
            self._stop_unreachable(failures.stop_reason)
        return True

    def _complete(self, response: InvocationResponse) -> None:
        """Fill what the API did not report (token counts by the tokenizer, time per output
        token) and say where each count came from, so ``after_invoke`` callbacks see the
        response as it will be recorded (as in LLMeter: a cost callback must not see 0 output
        tokens on an API without usage).

        A stream without usage was counted by its endpoint (``stream``: one token per chunk);
        a tokenizer configured for the run (anything but the whitespace default) counts its
        answer text instead, streamed reasoning chunks added. The time per output token the
        endpoint did not set is the first-to-last span over the gaps between streamed tokens:
        reasoning tokens the usage reports are left out (an endpoint that streams them sets
        its own, ``stream_metrics``)."""
        tokenizer = self.tokenizer
        source = response.num_tokens_output_source
        if response.num_tokens_output is None:
            if response.response_text is not None:
                response.num_tokens_output = count_tokens(tokenizer, response.response_text)
                response.num_tokens_output_source = TOKENIZER
        elif source is None:
            response.num_tokens_output_source = USAGE
        elif source == STREAM and self._counting_tokenizer and response.response_text is not None:
            reasoning = response.num_tokens_output_reasoning or 0  # counted from the stream too
            response.num_tokens_output = len(tokenizer.encode(response.response_text)) + reasoning
            response.num_tokens_output_source = TOKENIZER
            response.time_per_output_token = response.inter_token_latency = None  # recomputed below
        if response.num_tokens_input is None:
            if response.input_prompt is not None:
                response.num_tokens_input = count_tokens(tokenizer, response.input_prompt)
                response.num_tokens_input_source = TOKENIZER
        elif response.num_tokens_input_source is None:
            response.num_tokens_input_source = USAGE
        ttft, ttlt, n_out = response.time_to_first_token, response.time_to_last_token, response.num_tokens_output
        if ttft is not None and ttlt is not None and n_out and response.time_per_output_token is None:
            if source != STREAM:  # usage counts reasoning the stream did not show
                n_out -= response.num_tokens_output_reasoning or 0
            if n_out > 1:
                gap = (ttlt - ttft) / (n_out - 1)
                response.time_per_output_token = gap
                if response.inter_token_latency is None:
                    response.inter_token_latency = gap

    def _record(self, response: InvocationResponse) -> None:
        """Count a complete response (after the callbacks, which may change it) in the stats,
        responses.jsonl and memory."""
        self._done += 1
        if self._slo_met is not None:
            response.slo_met = self._slo_met(response)
        self._stats.update(response)
        if self._folder is not None:
            self._folder.append_response(response.to_json())
        if not self.low_memory:
            self._responses.append(response)

    # -- ending ---------------------------------------------------------------------------
    def _end_of_duration(self) -> None:
        self._stopping = True
        if self.end_mode == "cancel" or self.grace_period == 0:
            self._cancel_inflight()
        else:
            self._grace_timer = asyncio.get_running_loop().call_later(self.grace_period, self._cancel_inflight)

    def _interrupt(self) -> None:
        if not self._interrupted:
            log.warning("run %s interrupted: stopping, keeping what was measured", self.run_name)
        self._interrupted = True
        self._stopping = True
        self._cancel_inflight()

    def _stop_unreachable(self, reason: str) -> None:
        """Too many connect failures in a row: stop sending, cancel what is in flight; the run
        is saved with ``stop_reason`` in stats.json."""
        log.error(
            "run %s stopped: %s (load.max_consecutive_connect_failures: %d; 0 never stops)",
            self.run_name,
            reason,
            self.max_consecutive_connect_failures,
        )
        self._stopping = True
        self._cancel_inflight()

    def _cancel_inflight(self) -> None:
        for task in list(self._inflight):
            task.cancel()

    def _finish_result(self, start_time: datetime) -> Result:
        end_time = utc_now()
        result = Result(
            responses=self._responses,
            total_requests=self._done,
            clients=self.clients,
            n_requests=self.n_requests,
            run_duration=self.run_duration,
            total_test_time=(end_time - start_time).total_seconds(),
            model_id=self.endpoint.model_id,
            output_path=self._folder.url if self._folder else None,
            endpoint_name=self.endpoint.endpoint_name,
            provider=self.endpoint.provider,
            run_name=self.run_name,
            run_description=self.run_description,
            start_time=start_time,
            first_request_time=self._stats.first_request_time,
            last_request_time=self._stats.last_request_time,
            end_time=end_time,
            interrupted=self._interrupted,
        )
        self._result = result
        return result

    def _generator_stats(self) -> dict[str, Any]:
        """What the run says about the load generator itself (stats.json and snapshots): the
        offered load, ``max_in_flight``, CPU and event-loop lag, and the verdict."""
        out: dict[str, Any] = {"load_mode": "rate" if self.plan.schedule is not None else "clients"}
        if self.plan.schedule is not None:
            out["offered_rate"] = self.plan.offered_rate()
            loop = self._open_loop
            out["unsent_requests"] = loop.unsent if loop is not None else 0
            out["max_concurrency"] = self._max_concurrency()
        elif self._unsent:
            out["unsent_requests"] = self._unsent
        out["max_in_flight"] = self._max_in_flight
        out.update(self._monitor.stats())
        delays = self._stats.metric_values("dispatch_delay")
        checks = dict(out)
        if delays.size:
            checks["dispatch_delay-p99"] = float(np.percentile(delays, 99))
        out["client_bound"], out["client_bound_reason"] = verdict(checks)
        return out

    # -- live stats -------------------------------------------------------------------------
    async def _tick(self) -> None:
        """Flush responses.jsonl every second; emit a snapshot every live_interval."""
        step = min(1.0, self.live_interval)
        next_snapshot = self.live_interval
        elapsed = 0.0
        while True:
            await asyncio.sleep(step)
            elapsed += step
            if self._folder is not None:
                self._folder.flush()
            if elapsed + 1e-9 >= next_snapshot:
                next_snapshot += self.live_interval
                await self._emit(final=False)

    def snapshot(self, final: bool = False) -> LiveSnapshot:
        elapsed = (now_ns() - self._started_ns) / 1e9 if self._started_ns else 0.0
        if final and self._result is not None:
            stats = self._result.stats
        else:
            stats = self._stats.to_stats(utc_now())
            stats.update(self._generator_stats())
            if self.slo is not None:
                stats.update(self.slo.stats(self._stats, stats))
        return LiveSnapshot(
            run_name=self.run_name,
            elapsed_s=elapsed,
            requests_sent=self._sent,
            responses_done=self._done,
            in_flight=len(self._inflight),
            expected_requests=self.bound.expected_requests,
            run_duration=self.bound.run_duration,
            progress=1.0 if final and not self._interrupted else self.bound.progress(self._done, elapsed),
            stats=stats,
            final=final,
            interrupted=self._interrupted,
        )

    async def _emit(self, final: bool) -> None:
        if not self.live_sinks:
            return
        snap = self.snapshot(final)
        for sink in self.live_sinks:
            try:
                if inspect.iscoroutinefunction(sink) or inspect.iscoroutinefunction(type(sink).__call__):
                    await cast(Awaitable[None], sink(snap))
                else:
                    await asyncio.to_thread(sink, snap)
            except Exception:  # a broken sink must not end the run
                log.exception("live stats sink %r failed", sink)


def _from_schedule(response: InvocationResponse, scheduled_ns: int) -> None:
    """The schedule fields of an open-loop response: when it was due, how late it left, and
    its latencies as the user behind the schedule saw them."""
    scheduled = to_datetime(scheduled_ns)
    response.scheduled_time = scheduled
    if response.request_time is None:
        return
    delay = (response.request_time - scheduled).total_seconds()
    response.dispatch_delay = delay
    if response.time_to_first_token is not None:
        response.time_to_first_token_from_schedule = delay + response.time_to_first_token
    if response.time_to_last_token is not None:
        response.time_to_last_token_from_schedule = delay + response.time_to_last_token


def _this_task() -> asyncio.Task[Any]:
    """The running task (a client: the runner cancels it to end or interrupt a run)."""
    task = asyncio.current_task()
    assert task is not None, "called outside a task"
    return task


def _dumps(payload: dict[str, Any]) -> bytes:
    import orjson

    return orjson.dumps(payload, default=str)
