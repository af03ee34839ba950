"""Streaming benchmark: client CPU per streamed token when tokens arrive one network read at
a time, as they do from a real model, and the time-to-first-token error that goes with it.

Run it with ``.venv/bin/python benchmarks/streaming_benchmark.py``; it prints one JSON line
(``--table`` adds a readable table on stderr). Keys, per stream count ``N`` (64 and 256 by
default):

- ``engine_N_cpu_ms_per_stream`` / ``raw_N_cpu_ms_per_stream``: CPU time of this (client)
  process per 20-token streamed Chat Completions request, for the engine (a ``Runner`` run over
  ``OpenAIChatEndpoint``, default direct client, writing its run folder) and for a raw aiohttp
  client (reads each chunk as it arrives, parses nothing). Best round; ``*_spread`` is the
  worst round, so ``best..spread`` is the range seen.
- ``engine_N_cpu_us_per_token``: the same divided by the 20 tokens (everything included: the
  request, its response, the record).
- ``floor_N_cpu_ms_per_stream`` (``_spread``, ``_cpu_us_per_token``, ``_kernel_share``,
  ``_reads_per_stream``): the floor of any Python client on this machine and loop, a bare
  ``asyncio.Protocol`` per connection on the engine's loop that writes the same request,
  stamps and counts each read and parses nothing. ``engine_N_above_floor_ms_per_stream``:
  the engine's CPU per stream minus the floor's in the same round (best round; ``_spread`` the
  worst): the part the engine's own code costs, which compares between machines where the
  absolute figures do not (a faster machine lowers every client, the floor included).
- ``engine_N_ttft_err_p50_ms`` / ``_p99_ms`` (and ``raw_N_...``): measured time to first token
  minus the server's for that very request, counted as a real server counts it, from the
  request's arrival: ``GET /emulator/requests/{id}``'s ``first_token_ms`` (when its handler
  wrote the first token, after the handler started) plus ``started_s - read_s`` (how long
  after the emulator read the request its handler started). What is left is the request's
  way to the server, the token's way back, and the client's own delay in stamping each. From
  the round with the best CPU.
- ``*_ttft_way_in_p50_ms`` / ``_p99_ms``: the first of those parts, from the request's send to
  the emulator reading it (the kernel, and the emulator's loop being busy with other
  connections' writes); ``*_ttft_way_back_*``: the last, from the emulator writing the first
  token to the client stamping its arrival (the kernel, and the client). Both on
  ``CLOCK_MONOTONIC``, which the two processes share (the emulator's side to the millisecond
  on uvloop).
- ``*_server_wait_p50_ms`` / ``_p99_ms``: the emulator's own part, from reading a request to
  its handler's start (a wave of 64 requests read at once reaches its handlers one after
  another); ``*_ttft_err_from_handler_p99_ms``: the error as measured before that part was
  known, against the handler's start (``ttft_err`` plus the server's wait).
- ``event_loop``: the engine's event loop (``uvloop`` or ``asyncio``, as in run_config.json;
  ``--loop`` chooses); the raw client always runs on plain asyncio, the fixed reference.
- ``load_avg_1m`` at the start and ``load_avg_1m_end``: the machine is shared; figures measured
  under a load above ~1 (2 cores) are the neighbours' as much as ours.

Setup: the OpenAI emulator in its own process pinned to CPU 0 (``sched_setaffinity``, as
``taskset -c 0`` would), this client process pinned to CPU 1 (``--no-pin`` leaves both free).
The emulator writes each token with its own write, 10 ms apart (``--itl-ms``), after a 100 ms
TTFT, so each token is one network read on the client while the emulator keeps up: at 256
streams and 10 ms its one core cannot (``reads_per_stream`` falls below 20 as it joins tokens),
and ``--itl-ms 25`` measures 256 streams at one token per read. Each client sends ``--per-client`` requests after one
warm-up request (which opens its kept-alive connection and is not counted); the raw client, the
floor and the engine alternate for ``--rounds`` rounds against the same emulator.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlsplit

import aiohttp
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from benchmarks.emulator_truth import truth_records  # noqa: E402
from llmeter_core import Runner, clock  # noqa: E402
from llmeter_core.callbacks import Callback  # noqa: E402
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint  # noqa: E402
from llmeter_core.endpoints.transport.connection import Connection  # noqa: E402
from llmeter_core.event_loop import LOOPS, loop_factory  # noqa: E402

PROMPT = "Write a short poem about load testing."
TOKENS = 20
ITL_MS = 10.0
TTFT_MS = 100.0
SERVER_CPU, CLIENT_CPU = 0, 1


def _pin(cpu: int) -> None:
    if hasattr(os, "sched_setaffinity") and cpu < (os.cpu_count() or 1):
        os.sched_setaffinity(0, {cpu})


def _serve(config: dict[str, Any], pin: bool, conn: Any) -> None:
    """Child process: an OpenAI emulator (pinned to ``SERVER_CPU``, on uvloop where it is
    installed: the server must keep up with one write per token), until terminated."""
    if pin:
        _pin(SERVER_CPU)
    from llmeter_core.emulator import start_emulator

    async def main() -> None:
        emulator = await start_emulator("openai", config)
        conn.send(emulator.port)
        await asyncio.Event().wait()

    with asyncio.Runner(loop_factory=loop_factory("auto")) as runner:
        runner.run(main())


@contextmanager
def emulator_process(pin: bool, **config: Any) -> Iterator[str]:
    """An emulator process with ``config``; yields its ``/v1`` base URL."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(config, pin, child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the emulator process did not start within 30 s")
        yield f"http://127.0.0.1:{parent.recv()}/v1"
    finally:
        process.terminate()
        process.join(10)


async def _served(base_url: str, request_ids: list[str]) -> dict[str, tuple[float, float, float]]:
    """The emulator's ground truth per request: ``(first_token_ms, started_ns, read_ns)``, when
    it wrote the first token (ms after its handler started), when its handler started and when
    it read the request (its loop's clock, ``CLOCK_MONOTONIC`` as this process's
    ``perf_counter_ns``; to the millisecond on uvloop, whose loop time is libuv's millisecond
    clock)."""
    records = await truth_records(base_url, request_ids)
    return {
        request_id: (float(r["first_token_ms"]), float(r["started_s"]) * 1e9, float(r["read_s"]) * 1e9)
        for request_id, r in records.items()
    }


def _errors(
    sends: list[tuple[str, int, float]], served: dict[str, tuple[float, float, float]]
) -> dict[str, list[float]]:
    """Per request ``(id, send perf_counter_ns, measured TTFT ms)``: the TTFT error against the
    server's TTFT from the request's arrival, its two parts on the clock both processes share,
    ``way_in`` (the request's send to the emulator reading it) and ``way_back`` (the emulator
    writing the first token to this client stamping its arrival), and ``server_wait`` (the
    emulator reading the request to its handler's start: the server's time, not an error)."""
    out: dict[str, list[float]] = {"errors_ms": [], "way_in_ms": [], "way_back_ms": [], "server_wait_ms": []}
    for request_id, send_ns, ttft_ms in sends:
        first_ms, started_ns, read_ns = served[request_id]
        wait_ms = (started_ns - read_ns) / 1e6
        out["errors_ms"].append(ttft_ms - first_ms - wait_ms)
        out["server_wait_ms"].append(wait_ms)
        out["way_in_ms"].append((read_ns - send_ns) / 1e6)
        out["way_back_ms"].append((send_ns + ttft_ms * 1e6 - started_ns) / 1e6 - first_ms)
    return out


# -- the raw aiohttp client -----------------------------------------------------------------------
async def _raw(
    url: str, body: bytes, clients: int, per_client: int
) -> tuple[float, float, list[tuple[str, int, float]], int]:
    """Closed-loop aiohttp clients reading each chunk as it arrives. Returns (CPU seconds of
    the measured requests, of which in the kernel, [(request id, send ns, TTFT ms)], network
    reads)."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=0), headers={"Content-Type": "application/json"}
    ) as session:
        ttfts: list[tuple[str, int, float]] = []
        reads = 0

        async def one(measured: bool) -> None:
            nonlocal reads
            start_ns = time.perf_counter_ns()
            async with session.post(url, data=body) as response:
                readany = response.content.readany
                chunk = await readany()
                if measured:
                    ttft_ms = (time.perf_counter_ns() - start_ns) / 1e6
                    ttfts.append((response.headers["x-request-id"], start_ns, ttft_ms))
                n = 0
                while chunk:
                    n += 1
                    chunk = await readany()
                if response.status != 200:
                    raise RuntimeError(f"raw client: HTTP {response.status}")
                if measured:
                    reads += n

        async def client() -> None:
            for _ in range(per_client):
                await one(True)

        await asyncio.gather(*(one(False) for _ in range(clients)))  # warm-up: open the connections
        cpu0, sys0 = time.process_time(), os.times().system
        await asyncio.gather(*(client() for _ in range(clients)))
        return time.process_time() - cpu0, os.times().system - sys0, ttfts, reads


def raw_round(base_url: str, clients: int, per_client: int) -> dict[str, Any]:
    endpoint = OpenAIChatEndpoint(model_id="bench", base_url=base_url)
    body = orjson.dumps(endpoint.prepare_payload(OpenAIChatEndpoint.create_payload(PROMPT, max_tokens=TOKENS)))
    cpu, sys_s, ttfts, reads = asyncio.run(_raw(base_url + "/chat/completions", body, clients, per_client))
    served = asyncio.run(_served(base_url, [request_id for request_id, _, _ in ttfts]))
    return {
        "cpu_s": cpu,
        "sys_s": sys_s,
        "streams": len(ttfts),
        **_errors(ttfts, served),
        "reads_per_stream": reads / len(ttfts),
    }


# -- the floor: a bare protocol ----------------------------------------------------------------
class _FloorProtocol(asyncio.Protocol):
    """One kept-alive connection of the floor client: writes a prepared request, stamps and
    counts each read (``perf_counter_ns``, as the engine stamps one), parses nothing, and
    knows the body's end by the chunked-encoding terminator closing a read."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reads = 0
        self.last_ns = 0
        self.done: asyncio.Future[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_ns = time.perf_counter_ns()
        self.reads += 1
        if data.endswith(b"0\r\n\r\n") and self.done is not None and not self.done.done():
            self.done.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.done is not None and not self.done.done():
            self.done.set_exception(exc or ConnectionError("the emulator closed the connection"))

    async def request(self, data: bytes) -> None:
        assert self.transport is not None
        self.done = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        await self.done


async def _floor(host: str, port: int, request: bytes, clients: int, per_client: int) -> tuple[float, float, int]:
    """Closed-loop bare-protocol clients. Returns (CPU seconds of the measured requests, of
    which in the kernel, network reads)."""
    loop = asyncio.get_running_loop()
    protocols: list[_FloorProtocol] = []
    for _ in range(clients):
        _, protocol = await loop.create_connection(_FloorProtocol, host, port)
        protocols.append(protocol)
    await asyncio.gather(*(p.request(request) for p in protocols))  # warm-up
    reads0 = sum(p.reads for p in protocols)
    cpu0, sys0 = time.process_time(), os.times().system

    async def client(protocol: _FloorProtocol) -> None:
        for _ in range(per_client):
            await protocol.request(request)

    await asyncio.gather(*(client(p) for p in protocols))
    cpu, sys_s = time.process_time() - cpu0, os.times().system - sys0
    reads = sum(p.reads for p in protocols) - reads0
    for protocol in protocols:
        assert protocol.transport is not None
        protocol.transport.close()
    return cpu, sys_s, reads


def floor_request(base_url: str) -> bytes:
    """The engine's streamed request as one prepared HTTP/1.1 write (same body, kept alive)."""
    endpoint = OpenAIChatEndpoint(model_id="bench", base_url=base_url, stream=True)
    body = orjson.dumps(endpoint.prepare_payload(OpenAIChatEndpoint.create_payload(PROMPT, max_tokens=TOKENS)))
    url = urlsplit(base_url + endpoint.api_path)
    return b"POST %b HTTP/1.1\r\nHost: %b\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%b" % (
        url.path.encode(),
        url.netloc.encode(),
        len(body),
        body,
    )


def floor_round(base_url: str, clients: int, per_client: int, loop: str) -> dict[str, Any]:
    """The floor of any Python client on this machine and loop: the bare protocol's CPU per
    stream, with the same request and the same reads as the engine's, and nothing parsed."""
    url = urlsplit(base_url)
    assert url.hostname is not None and url.port is not None
    with asyncio.Runner(loop_factory=loop_factory(loop)) as aio:
        cpu, sys_s, reads = aio.run(_floor(url.hostname, url.port, floor_request(base_url), clients, per_client))
    streams = clients * per_client
    return {"cpu_s": cpu, "sys_s": sys_s, "streams": streams, "reads_per_stream": reads / streams}


# -- the engine ----
class _ReadCounter:
    """Counts the engine's network reads (``Connection.data_received`` calls), so a round in
    which the emulator fell behind and joined tokens into fewer writes shows as such. Costs
    one Python call per read (~0.1 us, well under 1 % of a read's cost)."""

    count = 0

    @classmethod
    def install(cls) -> None:
        original = Connection.data_received
        if getattr(original, "counted", False):
            return

        def data_received(self: Connection, data: bytes) -> None:
            cls.count += 1
            original(self, data)

        data_received.counted = True  # type: ignore[attr-defined]
        Connection.data_received = data_received  # type: ignore[method-assign]


class _CPUWindow(Callback):
    """CPU time from the first measured request to the end of the run (the warm-up excluded)."""

    def __init__(self) -> None:
        self.start: float | None = None
        self.end = 0.0
        self.sys_start = self.sys_end = 0.0

    async def before_invoke(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        if self.start is None:
            self.start = time.process_time()
            self.sys_start = os.times().system
        return None

    async def after_run(self, result: Any) -> None:
        self.end = time.process_time()
        self.sys_end = os.times().system


def engine_round(base_url: str, clients: int, per_client: int, out_dir: str, name: str, loop: str) -> dict[str, Any]:
    endpoint = OpenAIChatEndpoint(model_id="bench", base_url=base_url, stream=True, api_key="bench-key")
    window = _CPUWindow()
    runner = Runner(
        endpoint,
        OpenAIChatEndpoint.create_payload(PROMPT, max_tokens=TOKENS),
        clients=clients,
        n_requests=per_client,
        warmup_requests=1,
        output_path=out_dir,
        run_name=name,
        timeout=60,
        handle_signals=False,
        callbacks=[window],
    )
    _ReadCounter.install()
    reads0 = _ReadCounter.count
    with asyncio.Runner(loop_factory=loop_factory(loop)) as aio:
        result = aio.run(runner.run())
        event_loop = _loop_name(aio.get_loop())
    reads = _ReadCounter.count - reads0
    responses = [r for r in result.responses if r.ok and r.time_to_first_token is not None]
    if len(responses) != clients * per_client or any(r.num_tokens_output != TOKENS for r in responses):
        raise RuntimeError(f"engine: {len(responses)} of {clients * per_client} streams complete, stats {result.stats}")
    served = asyncio.run(_served(base_url, [r.id for r in responses]))
    sends = [(r.id, _perf_ns(r.request_time), r.time_to_first_token * 1000.0) for r in responses]
    assert window.start is not None
    return {
        "cpu_s": window.end - window.start,
        "sys_s": window.sys_end - window.sys_start,
        "streams": len(responses),
        **_errors(sends, served),
        "loop": event_loop,
        # warm-up streams included (one per client): reads per stream, not per measured stream
        "reads_per_stream": reads / (len(responses) + clients),
    }


def _perf_ns(request_time: Any) -> int:
    """The ``perf_counter_ns`` a response's ``request_time`` was made from (``clock.to_datetime``
    inverted, to the microsecond)."""
    return (request_time - clock._WALL_ANCHOR) // timedelta(microseconds=1) * 1000 + clock._PERF_ANCHOR_NS


def _loop_name(loop: asyncio.AbstractEventLoop) -> str:
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"


# -- the report -------------------------------------------------------------------------------------
def _cpu_summary(prefix: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The CPU keys of a client's rounds: the best round's, and the worst round's CPU."""
    per_stream = [r["cpu_s"] * 1000.0 / r["streams"] for r in rounds]
    best = int(np.argmin(per_stream))
    return {
        f"{prefix}_cpu_ms_per_stream": round(per_stream[best], 3),
        f"{prefix}_cpu_ms_per_stream_spread": round(max(per_stream), 3),
        f"{prefix}_cpu_us_per_token": round(per_stream[best] * 1000.0 / TOKENS, 1),
        f"{prefix}_kernel_share": round(rounds[best]["sys_s"] / rounds[best]["cpu_s"], 2),
        f"{prefix}_reads_per_stream": round(rounds[best]["reads_per_stream"], 2),
    }


def _summary(prefix: str, rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """The CPU keys and, from the round with the best CPU, the TTFT error and its parts."""
    best = int(np.argmin([r["cpu_s"] / r["streams"] for r in rounds]))
    errors = np.asarray(rounds[best]["errors_ms"])
    return {
        **_cpu_summary(prefix, rounds),
        f"{prefix}_ttft_err_p50_ms": round(float(np.percentile(errors, 50)), 2),
        f"{prefix}_ttft_err_p99_ms": round(float(np.percentile(errors, 99)), 2),
        f"{prefix}_ttft_way_in_p50_ms": round(float(np.percentile(rounds[best]["way_in_ms"], 50)), 2),
        f"{prefix}_ttft_way_in_p99_ms": round(float(np.percentile(rounds[best]["way_in_ms"], 99)), 2),
        f"{prefix}_ttft_way_back_p50_ms": round(float(np.percentile(rounds[best]["way_back_ms"], 50)), 2),
        f"{prefix}_ttft_way_back_p99_ms": round(float(np.percentile(rounds[best]["way_back_ms"], 99)), 2),
        f"{prefix}_server_wait_p50_ms": round(float(np.percentile(rounds[best]["server_wait_ms"], 50)), 2),
        f"{prefix}_server_wait_p99_ms": round(float(np.percentile(rounds[best]["server_wait_ms"], 99)), 2),
        f"{prefix}_ttft_err_from_handler_p99_ms": round(
            float(np.percentile(errors + np.asarray(rounds[best]["server_wait_ms"]), 99)), 2
        ),
        f"{prefix}_ttft_err_p99_ms_spread": round(
            max(float(np.percentile(np.asarray(r["errors_ms"]), 99)) for r in rounds), 2
        ),
    }


def measure(
    streams: int, per_client: int, rounds: int, pin: bool, loop: str, out_dir: str, itl_ms: float = ITL_MS
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    raw: list[dict[str, Any]] = []
    floor: list[dict[str, Any]] = []
    engine: list[dict[str, Any]] = []
    with emulator_process(pin, ttft_ms=TTFT_MS, itl_ms=itl_ms, output_tokens=TOKENS) as url:
        for round_ in range(rounds):
            raw.append(raw_round(url, streams, per_client))
            floor.append(floor_round(url, streams, per_client, loop))
            engine.append(engine_round(url, streams, per_client, out_dir, f"s{streams}-{round_}", loop))
    report.update(_summary(f"raw_{streams}", raw))
    report.update(_cpu_summary(f"floor_{streams}", floor))
    report.update(_summary(f"engine_{streams}", engine))
    above = [
        (e["cpu_s"] / e["streams"] - f["cpu_s"] / f["streams"]) * 1000.0 for e, f in zip(engine, floor, strict=True)
    ]
    report[f"engine_{streams}_above_floor_ms_per_stream"] = round(min(above), 3)
    report[f"engine_{streams}_above_floor_spread"] = round(max(above), 3)
    report["event_loop"] = engine[0]["loop"]
    return report


# -- the per-chunk path alone, without sockets -----------------------------------------------------
class _NullTransport:
    """What ``Connection`` needs of an asyncio transport, writing nowhere."""

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return default

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _stream_bytes() -> tuple[bytes, list[bytes]]:
    """A response head and the network reads of a 20-token Chat Completions stream as the
    emulator writes it: one chunked-encoding chunk per read (role and first token together,
    the last token with the finish, usage, [DONE] and the terminator)."""
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        b"x-request-id: chatcmpl-0123456789abcdef\r\nTransfer-Encoding: chunked\r\n"
        b"Date: Tue, 01 Dec 2026 23:00:00 GMT\r\nServer: Python/3.11 aiohttp/3.14.5\r\n\r\n"
    )
    prefix = (
        b'data: {"id":"chatcmpl-0123456789abcdef","object":"chat.completion.chunk","created":1796000000,'
        b'"model":"bench","system_fingerprint":null,"choices":[{"index":0,"delta":'
    )
    events = [prefix + b'{"content":"tok%d "},"logprobs":null,"finish_reason":null}]}\n\n' % i for i in range(TOKENS)]
    role = b'{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]}\n\n'
    events[0] = prefix + role + events[0]
    events[-1] += (
        prefix
        + b'{},"logprobs":null,"finish_reason":"length"}]}\n\n'
        + prefix[: prefix.index(b'"choices"')]
        + b'"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":20,"total_tokens":29}}\n\n'
        + b"data: [DONE]\n\n"
    )
    reads = [b"%x\r\n%b\r\n" % (len(event), event) for event in events]
    reads[-1] += b"0\r\n\r\n"
    return head, reads


async def _synthetic(streams: int, waves: int) -> tuple[float, int]:
    """``streams`` connections, each fed ``waves`` streams read by the endpoint's own stream
    parser (``parse_response``), one read per token, every stream's read of a token fed before
    the loop runs the readers. Returns (CPU seconds, streams read)."""
    from llmeter_core.endpoints.transport.connection import RawResponse
    from llmeter_core.response import InvocationResponse

    endpoint = OpenAIChatEndpoint(model_id="bench", base_url="http://127.0.0.1:9/v1", stream=True)
    head, reads = _stream_bytes()
    connections = []
    for _ in range(streams):
        connection = Connection(("http", "127.0.0.1", 9), lambda c: None, lambda c: None)
        connection.connection_made(_NullTransport())  # type: ignore[arg-type]
        connections.append(connection)

    async def one(connection: Connection) -> InvocationResponse:
        out = InvocationResponse()
        start = time.perf_counter_ns()
        status, headers, body = await connection.response_head()
        await endpoint.parse_response(RawResponse("", status, headers, body, connection), start, out)
        return out

    done = 0
    cpu0 = time.process_time()
    for _ in range(waves):
        tasks = []
        for connection in connections:
            connection.send(b"", "", "POST", None)
            tasks.append(asyncio.ensure_future(one(connection)))
        for connection in connections:
            connection.data_received(head)
        await asyncio.sleep(0)
        for data in reads:
            for connection in connections:
                connection.data_received(data)
            await asyncio.sleep(0)
        for out in await asyncio.gather(*tasks):
            if out.num_tokens_output != TOKENS or out.error is not None:
                raise RuntimeError(f"synthetic stream not read whole: {out.to_json()!r}")
            done += 1
    return time.process_time() - cpu0, done


def synthetic(streams: int, loop: str, rounds: int) -> dict[str, Any]:
    """The per-chunk path (HTTP parser, body, wake-up, SSE, JSON, the response object) on
    ``streams`` connections without sockets or a server: a deterministic figure, for comparing
    changes to that path on a busy machine. Best of ``rounds``."""
    best = float("inf")
    for _ in range(rounds):
        with asyncio.Runner(loop_factory=loop_factory(loop)) as aio:
            cpu, done = aio.run(_synthetic(streams, 50))
            kind = _loop_name(aio.get_loop())
        best = min(best, cpu / (done * TOKENS))
    return {"synthetic_cpu_us_per_read": round(best * 1e6, 2), "streams": streams, "event_loop": kind}


def profile(streams: int, per_client: int, pin: bool, loop: str, path: str) -> dict[str, Any]:
    """One engine round (after an unprofiled one) under cProfile; the stats go to ``path``
    (read them with ``python -m pstats``); prints the top functions by own time."""
    import cProfile
    import pstats

    with tempfile.TemporaryDirectory(prefix="llmeter-stream-prof-") as out_dir:
        with emulator_process(pin, ttft_ms=TTFT_MS, itl_ms=ITL_MS, output_tokens=TOKENS) as url:
            engine_round(url, streams, per_client, out_dir, "warm", loop)
            profiler = cProfile.Profile(time.process_time)
            profiler.enable()
            result = engine_round(url, streams, per_client, out_dir, "profiled", loop)
            profiler.disable()
    profiler.dump_stats(path)
    pstats.Stats(path).sort_stats("tottime").print_stats(40)
    return {"streams": result["streams"]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Client CPU and TTFT error with one token per network read.")
    parser.add_argument("--streams", default="64,256", help="comma-separated concurrent stream counts (64,256)")
    parser.add_argument("--per-client", type=int, default=10, help="measured requests per client (10)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each client (3)")
    parser.add_argument(
        "--itl-ms",
        type=float,
        default=ITL_MS,
        help="ms between tokens (10); at 256 streams one emulator core keeps one write per token only from ~25",
    )
    parser.add_argument("--loop", choices=LOOPS, default="auto", help="the engine's event loop (auto)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the emulator and the client to a CPU each")
    parser.add_argument("--table", action="store_true", help="also print a table on stderr")
    parser.add_argument("--profile", metavar="FILE", help="instead: one engine round under cProfile, stats to FILE")
    parser.add_argument("--synthetic", action="store_true", help="instead: the per-chunk path alone, no sockets")
    args = parser.parse_args(argv)
    if args.synthetic:
        figures = synthetic(int(args.streams.split(",")[0]), args.loop, args.rounds)
        print(orjson.dumps(figures).decode())
        return figures
    pin = not args.no_pin
    if pin:
        _pin(CLIENT_CPU)
    if args.profile:
        return profile(int(args.streams.split(",")[0]), args.per_client, pin, args.loop, args.profile)
    report: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2), "pinned": pin, "itl_ms": args.itl_ms}
    with tempfile.TemporaryDirectory(prefix="llmeter-stream-bench-") as out_dir:
        for streams in (int(s) for s in args.streams.split(",")):
            report.update(measure(streams, args.per_client, args.rounds, pin, args.loop, out_dir, args.itl_ms))
    report["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
    print(orjson.dumps(report).decode())
    if args.table:
        for key, value in report.items():
            print(f"{key:40s} {value}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
