"""Bedrock ConverseStream TTFT benchmark: does the AWS endpoint measure what the server did?

Run it with ``.venv/bin/python benchmarks/bedrock_ttft_benchmark.py``; it prints ONE JSON line.

64 concurrent clients (``Runner`` + ``BedrockConverseStream`` over aiobotocore) send
ConverseStream requests to the Bedrock emulator running in a separate *process* (so the
server's CPU and GIL are not the client's), TTFT 100 ms, 20 tokens 10 ms apart, after one
warm-up request per client. For each request the error is the measured time to first token
minus the emulator's own record of when it wrote that token (``first_token_ms`` from
``GET /emulator/requests/{request id}``, matched by the AWS request id):

- ``ttft_err_p50_ms`` / ``ttft_err_p99_ms``: that error's median and 99th percentile
  (target: p50 within 5 ms).
- ``aiohttp_ttft_err_p50_ms`` / ``aiohttp_ttft_err_p99_ms``: the same endpoint on aiobotocore's
  default aiohttp session (``http_client="aiohttp"``), for comparison (why they differ:
  ``docs/transport.md``).
- ``floor_ttft_err_p50_ms`` / ``floor_ttft_err_p99_ms``: the same for a minimal client on
  raw asyncio streams (no SDK, no signing, no event parsing; time to the first body chunk)
  on the same workload: the share of the error that belongs to the machine and the loopback
  network, not to the endpoint.
- ``measured_ttft_p50_ms``, ``emulator_first_token_p50_ms``, ``requests``, ``failed``,
  ``load_avg_1m`` (other work on the machine shows in every figure).

``--clients``, ``--requests`` (per client) and ``--ttft-ms`` change the workload.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import aiohttp
import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

from llmeter_core import Runner  # noqa: E402
from llmeter_core.endpoints.bedrock_converse import BedrockConverseStream  # noqa: E402

PROMPT = "Write a short poem about load testing."
MODEL = "anthropic.claude-3-5-haiku-20241022-v1:0"


@contextmanager
def emulator_process(ttft_ms: float, itl_ms: float, output_tokens: int) -> Iterator[str]:
    """The Bedrock emulator CLI in a child process; yields its URL."""
    command = [
        sys.executable,
        "-m",
        "llmeter_core.emulator.cli",
        "bedrock",
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        "--ttft-ms",
        str(ttft_ms),
        "--itl-ms",
        str(itl_ms),
        "--output-tokens",
        str(output_tokens),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        if not line.startswith("listening on "):
            raise RuntimeError(f"the emulator did not start: {line!r}")
        yield line.removeprefix("listening on ")
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _truth(session: aiohttp.ClientSession, url: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    async def one(request_id: str) -> tuple[str, dict[str, Any] | None]:
        async with session.get(f"{url}/emulator/requests/{request_id}") as response:
            return request_id, (await response.json() if response.status == 200 else None)

    pairs = await asyncio.gather(*(one(request_id) for request_id in request_ids))
    return {request_id: record for request_id, record in pairs if record is not None}


async def endpoint_errors(
    url: str, clients: int, per_client: int, http_client: str = "direct"
) -> tuple[list[float], list[float], int, dict[str, int]]:
    """(errors ms, measured TTFTs ms, requests, failures by type) of the engine's ConverseStream runs."""
    endpoint = BedrockConverseStream(MODEL, endpoint_url=url, prewarm_connections=clients, http_client=http_client)
    payload = BedrockConverseStream.create_payload(PROMPT, 64)
    runner = Runner(
        endpoint, payload, clients=clients, n_requests=per_client, warmup_requests=1, timeout=30, handle_signals=False
    )
    result = await runner.run()
    ok = [r for r in result.responses if r.error is None and r.time_to_first_token is not None]
    async with aiohttp.ClientSession() as session:
        truth = await _truth(session, url, [r.id for r in ok])
    errors, measured = [], []
    for response in ok:
        record = truth.get(response.id)
        if record is None or record.get("first_token_ms") is None:
            continue
        measured.append(response.time_to_first_token * 1000.0)
        errors.append(response.time_to_first_token * 1000.0 - record["first_token_ms"])
    failures = collections.Counter(r.error_type for r in result.responses if r.error is not None)
    return errors, measured, len(result.responses), dict(failures)


async def floor_errors(url: str, clients: int, per_client: int) -> list[float]:
    """The floor: a minimal client on raw asyncio streams (no SDK, no signing, no event
    parsing, request written at once), timing the first body chunk, minus the emulator's record."""
    host, port = url.removeprefix("http://").split(":")
    body = orjson.dumps(BedrockConverseStream.create_payload(PROMPT, 64))
    request = (
        f"POST /model/{MODEL}/converse-stream HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    samples: list[tuple[float, str]] = []

    async def client() -> None:
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            for index in range(per_client + 1):  # the first is a warm-up, as for the engine
                start = time.perf_counter_ns()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                request_id = next(
                    line.split(b":", 1)[1].strip().decode()
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"x-amzn-requestid:")
                )
                first = None
                while True:  # chunked body: size line, data, CRLF; 0 ends it
                    size = int((await reader.readline()).strip(), 16)
                    await reader.readexactly(size + 2)
                    if first is None:
                        first = (time.perf_counter_ns() - start) / 1e6
                    if size == 0:
                        break
                if index:
                    samples.append((first, request_id))
        finally:
            writer.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    async with aiohttp.ClientSession() as session:
        truth = await _truth(session, url, [request_id for _, request_id in samples])
    return [first - truth[request_id]["first_token_ms"] for first, request_id in samples if request_id in truth]


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description="TTFT error of BedrockConverseStream at many clients.")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--requests", type=int, default=5, help="requests per client")
    parser.add_argument("--ttft-ms", type=float, default=100.0)
    args = parser.parse_args(argv)
    for key, value in (
        ("AWS_ACCESS_KEY_ID", "benchmark"),
        ("AWS_SECRET_ACCESS_KEY", "benchmark"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ):
        os.environ.setdefault(key, value)
    load = os.getloadavg()[0]
    with emulator_process(args.ttft_ms, 10, 20) as url:
        errors, measured, requests, failed = asyncio.run(endpoint_errors(url, args.clients, args.requests))
    with emulator_process(args.ttft_ms, 10, 20) as url:
        floor = asyncio.run(floor_errors(url, args.clients, args.requests))
    with emulator_process(args.ttft_ms, 10, 20) as url:
        via_aiohttp, _, _, _ = asyncio.run(endpoint_errors(url, args.clients, args.requests, "aiohttp"))
    truth_ms = [m - e for m, e in zip(measured, errors, strict=True)]
    figures = {
        "clients": args.clients,
        "requests": requests,
        "failed": sum(failed.values()),
        "errors": failed,
        "ttft_err_p50_ms": _pct(errors, 50),
        "ttft_err_p99_ms": _pct(errors, 99),
        "floor_ttft_err_p50_ms": _pct(floor, 50),
        "floor_ttft_err_p99_ms": _pct(floor, 99),
        "aiohttp_ttft_err_p50_ms": _pct(via_aiohttp, 50),
        "aiohttp_ttft_err_p99_ms": _pct(via_aiohttp, 99),
        "measured_ttft_p50_ms": _pct(measured, 50),
        "emulator_first_token_p50_ms": _pct(truth_ms, 50),
        "load_avg_1m": round(load, 2),
    }
    print(orjson.dumps(figures).decode(), flush=True)
    return figures


if __name__ == "__main__":
    main()
