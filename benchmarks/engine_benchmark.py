"""Engine benchmark: how much the load tester itself costs, measured against the emulator.

Run it with ``.venv/bin/python benchmarks/engine_benchmark.py``; it prints ONE JSON line:

- ``engine_rps`` / ``floor_rps``: completed requests per second with 1-token, zero-latency
  streamed chat responses and 32 concurrent clients, for the engine (``Runner`` +
  ``OpenAIChatEndpoint`` on its default direct HTTP/1.1 client, or ``--http-client aiohttp``,
  writing its run folder) and for a minimal raw aiohttp client
  (the same 32 loops, the same body, no parsing beyond reading the response). Both are
  measured three times, interleaved, and the best of each is kept, so a noisy neighbour on
  the machine does not decide the ratio. Target ``engine_rps >= 0.85 * floor_rps``.
  ``engine_cpu_us_per_1tok_request`` / ``floor_cpu_us_per_1tok_request``: the client CPU
  behind those figures (the raw client is CPU-bound here, so their ratio is what the
  throughput ratio tends to on a quiet machine).
- ``cpu_ms_per_request``: CPU time of this (client) process per 50-token streamed request
  (8 clients x 50 requests, 1 ms between tokens), the whole engine included: endpoint,
  runner, stats, responses.jsonl. Target <= 3 ms. ``floor_cpu_ms_per_request`` is the raw
  client on the same workload, for scale.
- ``ttft_err_p50_ms`` / ``ttft_err_p99_ms``: measured time to first token minus the
  emulator's (fixed 100 ms) at 64 clients (20 tokens, 10 ms apart, 5 requests each, after
  one warm-up request per client). Targets <= 3 ms and <= 15 ms.
  ``floor_ttft_err_*`` is the raw client's time to its first body chunk on the same
  workload: the share of the error that belongs to the machine, not to the engine.
  ``emulator_late_*``: how late the emulator itself wrote those first tokens (its ground
  truth, ms after its handler started, minus 100); ``ttft_err_vs_served_*``: the engine's
  error minus that lateness (what is left: the request's transfer, the emulator's queue
  before its handler starts, and the client). ``server_wait_*``: that queue, from the
  emulator reading the request to its handler's start (``started_s - read_s``; a real
  server's TTFT includes it, as vLLM counts from the request's arrival);
  ``ttft_err_vs_arrival_*``: the error against the server's TTFT from the request's arrival
  (what is left: the request's way in, the first token's way back and the client), as
  ``streaming_benchmark.py`` measures it.
- ``load_avg_1m``: the machine's load when the benchmark started (other work shows in
  every figure above); ``http_client``: the engine's transport.

The emulator runs in a separate *process* (one per workload), so the server's CPU is never
counted as the client's and the two do not share a GIL. ``--duration`` sets the length of
the throughput windows (default 5 s).
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
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from benchmarks.emulator_truth import truth_records  # noqa: E402
from llmeter_core import Runner  # noqa: E402
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint  # noqa: E402

PROMPT = "Write a short poem about load testing."


# -- the emulator, in its own process ---------------------------------------------------------
def _serve(config: dict[str, Any], conn: Any) -> None:
    """Child process: serve an OpenAI emulator, report its port, run until terminated."""
    from llmeter_core.emulator import start_emulator

    async def main() -> None:
        emulator = await start_emulator("openai", config)
        conn.send(emulator.port)
        await asyncio.Event().wait()

    asyncio.run(main())


@contextmanager
def emulator_process(**config: Any) -> Iterator[str]:
    """Start an emulator process with ``config``; yield its ``/v1`` base URL."""
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=_serve, args=(config, child), daemon=True)
    process.start()
    try:
        if not parent.poll(30):
            raise RuntimeError("the emulator process did not start within 30 s")
        yield f"http://127.0.0.1:{parent.recv()}/v1"
    finally:
        process.terminate()
        process.join(10)


def chat_body(base_url: str, max_tokens: int) -> dict[str, Any]:
    """The exact body the engine sends, for the raw client to send too."""
    endpoint = OpenAIChatEndpoint(model_id="bench", base_url=base_url)
    return endpoint.prepare_payload(OpenAIChatEndpoint.create_payload(PROMPT, max_tokens=max_tokens))


# -- the floor: a minimal raw client ----------------------------------------------------------
async def _floor(
    base_url: str,
    body: bytes,
    clients: int,
    duration: float | None = None,
    per_client: int | None = None,
    warmup: int = 0,
    ttfts_ms: list[float] | None = None,
) -> tuple[int, float, float]:
    """Closed-loop aiohttp clients that only read each response body (after ``warmup``
    untimed requests each). With ``ttfts_ms``, also note the time to the first body chunk.

    Returns (completed requests, wall seconds, CPU seconds of this process)."""
    url = base_url + "/chat/completions"
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, headers={"Content-Type": "application/json"}) as session:
        loop = asyncio.get_running_loop()
        count = 0

        async def warm() -> None:
            for _ in range(warmup):
                async with session.post(url, data=body) as response:
                    await response.read()

        async def one_client() -> None:
            nonlocal count
            deadline = loop.time() + duration if duration is not None else None
            sent = 0
            while (deadline is None or loop.time() < deadline) and (per_client is None or sent < per_client):
                sent += 1
                start_ns = time.perf_counter_ns()
                async with session.post(url, data=body) as response:
                    if ttfts_ms is not None:
                        await response.content.readany()
                        ttfts_ms.append((time.perf_counter_ns() - start_ns) / 1e6)
                    await response.read()
                    if response.status == 200:
                        count += 1

        await asyncio.gather(*(warm() for _ in range(clients)))
        wall0, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one_client() for _ in range(clients)))
        return count, time.perf_counter() - wall0, time.process_time() - cpu0


def floor_run(base_url: str, body: dict[str, Any], clients: int, **options: Any) -> tuple[int, float, float]:
    return asyncio.run(_floor(base_url, orjson.dumps(body), clients, **options))


# -- the engine -----------------------------------------------------------------------------------
#: The engine's transport (``OpenAIChatEndpoint(http_client=...)``), set by ``--http-client``.
HTTP_CLIENT = "direct"


def engine_run(
    base_url: str, clients: int, max_tokens: int, out_dir: str, name: str, **options: Any
) -> tuple[Any, float, float]:
    """One Runner run over OpenAIChatEndpoint (streaming). Returns (result, wall s, CPU s)."""
    endpoint = OpenAIChatEndpoint(
        model_id="bench", base_url=base_url, stream=True, api_key="bench-key", http_client=HTTP_CLIENT
    )
    payload = OpenAIChatEndpoint.create_payload(PROMPT, max_tokens=max_tokens)
    runner = Runner(
        endpoint,
        payload,
        clients=clients,
        output_path=out_dir,
        run_name=name,
        timeout=30,
        handle_signals=False,
        **options,
    )
    wall0, cpu0 = time.perf_counter(), time.process_time()
    result = runner.run_sync()
    return result, time.perf_counter() - wall0, time.process_time() - cpu0


def _ok(result: Any) -> int:
    return result.total_requests - int(result.stats.get("failed_requests", 0))


# -- the three measurements -----------------------------------------------------------------------
def measure_rps(out_dir: str, duration: float, clients: int = 32, rounds: int = 3) -> dict[str, float]:
    """Best-of-``rounds`` throughput of the raw client and of the engine, interleaved, plus the
    CPU each spends per request (less sensitive than throughput to other load on the
    machine: a client that is descheduled sends less but spends the same per request)."""
    with emulator_process(ttft_ms=0, itl_ms=0, output_tokens=1) as url:
        body = chat_body(url, 1)
        floor_run(url, body, clients, duration=1.0)  # warm both processes up
        floors, engines, floor_cpu, engine_cpu = [], [], [], []
        for round_ in range(rounds):
            count, wall, cpu = floor_run(url, body, clients, duration=duration)
            floors.append(count / wall)
            floor_cpu.append(cpu / count)
            result, wall, cpu = engine_run(url, clients, 1, out_dir, f"rps-{round_}", run_duration=duration)
            engines.append(_ok(result) / wall)
            engine_cpu.append(cpu / _ok(result))
    return {
        "engine_rps": round(max(engines), 1),
        "floor_rps": round(max(floors), 1),
        "engine_floor_ratio": round(max(engines) / max(floors), 3),
        "engine_cpu_us_per_1tok_request": round(min(engine_cpu) * 1e6, 1),
        "floor_cpu_us_per_1tok_request": round(min(floor_cpu) * 1e6, 1),
    }


def measure_cpu(out_dir: str, clients: int = 8, per_client: int = 50, tokens: int = 50) -> dict[str, float]:
    with emulator_process(ttft_ms=0, itl_ms=1, output_tokens=tokens) as url:
        body = chat_body(url, tokens)
        count, _, floor_cpu = floor_run(url, body, clients, per_client=per_client, warmup=5)
        result, _, cpu = engine_run(url, clients, tokens, out_dir, "cpu", n_requests=per_client)
    ok = _ok(result)
    if ok != clients * per_client or result.stats.get("num_tokens_output-p50") != tokens:
        raise RuntimeError(f"cpu workload did not complete as planned: {ok} ok, stats {result.stats}")
    return {
        "cpu_ms_per_request": round(cpu * 1000 / ok, 3),
        "floor_cpu_ms_per_request": round(floor_cpu * 1000 / max(count, 1), 3),
    }


def measure_ttft(out_dir: str, clients: int = 64, per_client: int = 5, ttft_ms: float = 100.0) -> dict[str, float]:
    floor_ttfts: list[float] = []
    with emulator_process(ttft_ms=ttft_ms, itl_ms=10, output_tokens=20) as url:
        floor_run(url, chat_body(url, 20), clients, per_client=per_client, warmup=1, ttfts_ms=floor_ttfts)
        # One warm-up request per client opens the kept-alive connections, as a user would
        # before measuring; without it the first wave also times 64 TCP handshakes.
        result, _, _ = engine_run(url, clients, 20, out_dir, "ttft", n_requests=per_client, warmup_requests=1)
        responses = [r for r in result.responses if r.ok and r.time_to_first_token is not None]
        served = asyncio.run(_served_first_token_ms(url, [r.id for r in responses]))
    if len(responses) != clients * per_client:
        raise RuntimeError(f"ttft workload: only {len(responses)} of {clients * per_client} requests succeeded")
    errors_ms = np.asarray([r.time_to_first_token for r in responses]) * 1000.0 - ttft_ms
    floor_errors_ms = np.asarray(floor_ttfts) - ttft_ms
    late_ms = np.asarray([first_ms for first_ms, _ in served]) - ttft_ms
    wait_ms = np.asarray([wait for _, wait in served])

    def pct(values: np.ndarray, q: float) -> float:
        return round(float(np.percentile(values, q)), 2)

    return {
        "ttft_err_p50_ms": pct(errors_ms, 50),
        "ttft_err_p99_ms": pct(errors_ms, 99),
        "floor_ttft_err_p50_ms": pct(floor_errors_ms, 50),
        "floor_ttft_err_p99_ms": pct(floor_errors_ms, 99),
        "emulator_late_p50_ms": pct(late_ms, 50),
        "emulator_late_p99_ms": pct(late_ms, 99),
        "ttft_err_vs_served_p50_ms": pct(errors_ms - late_ms, 50),
        "ttft_err_vs_served_p99_ms": pct(errors_ms - late_ms, 99),
        "server_wait_p50_ms": pct(wait_ms, 50),
        "server_wait_p99_ms": pct(wait_ms, 99),
        "ttft_err_vs_arrival_p50_ms": pct(errors_ms - late_ms - wait_ms, 50),
        "ttft_err_vs_arrival_p99_ms": pct(errors_ms - late_ms - wait_ms, 99),
    }


async def _served_first_token_ms(base_url: str, request_ids: list[str]) -> list[tuple[float, float]]:
    """Per request, from the emulator's ground truth (``GET /emulator/requests/{id}``): when it
    wrote the first token (ms after its handler started) and how long after it read the
    request its handler started (ms, ``started_s - read_s``)."""
    records = await truth_records(base_url, request_ids)
    return [
        (float(r["first_token_ms"]), (float(r["started_s"]) - float(r["read_s"])) * 1000.0)
        for r in (records[request_id] for request_id in request_ids)
    ]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="Benchmark the llmeter_core engine against the emulator.")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per throughput window (default 5)")
    parser.add_argument(
        "--http-client",
        choices=("direct", "aiohttp"),
        default="direct",
        help="the engine endpoint's transport (default direct, the endpoint's default)",
    )
    args = parser.parse_args(argv)
    global HTTP_CLIENT
    HTTP_CLIENT = args.http_client
    report: dict[str, Any] = {"load_avg_1m": round(os.getloadavg()[0], 2), "http_client": HTTP_CLIENT}
    with tempfile.TemporaryDirectory(prefix="llmeter-bench-") as out_dir:
        report.update(measure_rps(out_dir, args.duration))
        report.update(measure_cpu(out_dir))
        report.update(measure_ttft(out_dir))
    print(orjson.dumps(report).decode())
    return report


if __name__ == "__main__":
    main()
