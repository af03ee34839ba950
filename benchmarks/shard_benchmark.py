"""Shard benchmark: what a second load-generator process buys, how well shards start together,
and what the exact merge costs.

Run it with ``.venv/bin/python benchmarks/shard_benchmark.py``; it prints ONE JSON line.

- The emulator runs in its own process pinned to the last core (``taskset -c <n-1>``) at zero
  latency with 1-token replies, so the server is not the limit.
- ``shards_1`` / ``shards_2``: the same closed-loop run (``--clients`` in all, default 32, for
  ``--duration`` s, default 5) in one shard and split over two, each shard in its own spawned
  process running the engine's shard part (``llmeter_core.shards.run_shard``: the code a
  Prefect shard task runs, without Prefect's process start-up, which is not what is
  measured) from one start time, then merged (``shard_merge.merge_shards``). For each:
  ``rps`` (merged requests over the merged send window), ``cpu_us_per_request`` (the shard
  processes' CPU, ``time.process_time``, per request) and ``start_skew_ms_max`` (the largest
  shard start skew, stats.json ``start_skew_s-max``) and ``first_request_spread_ms``.
- ``merge_seconds_1m``: merging two shard folders of ``--merge-responses`` / 2 responses
  each (default 1,000,000 in all; synthetic lines shaped like the engine's) into one run
  folder, and ``merge_peak_rss_mb``.
- ``cpus`` and ``load_avg_1m``: read every figure against them (on a 2-core machine the
  second shard shares a core with the emulator or with the first).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timedelta, timezone
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from a checkout, installed or not

from llmeter_core.shard_merge import merge_shards  # noqa: E402
from llmeter_core.shards import ShardedRun, run_shard  # noqa: E402
from llmeter_core.spec import RunSpec, parse_spec  # noqa: E402
from llmeter_core.storage import RunFolder  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_emulator(core: int) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    command = [sys.executable, "-m", "llmeter_core.emulator.cli", "openai", "--port", str(port)]
    command += ["--ttft-ms", "0", "--itl-ms", "0", "--output-tokens", "1"]
    process = subprocess.Popen(
        ["taskset", "-c", str(core), *command], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(f"{url}/emulator/stats", timeout=1)
            return process, f"{url}/v1"
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the emulator did not start")


def _shard(spec_json: str, run_url: str, index: int, start: str) -> dict[str, Any]:
    """One shard process: the engine's shard part; its own CPU time."""
    spec = RunSpec.model_validate_json(spec_json)
    cpu = time.process_time()
    result = asyncio.run(run_shard(spec, run_url, index, datetime.fromisoformat(start), handle_signals=False))
    return {"requests": result.total_requests, "cpu_s": time.process_time() - cpu}


def sharded(base_url: str, out: str, shards: int, clients: int, duration: float) -> dict[str, Any]:
    spec = parse_spec(
        {
            "output": out,
            "endpoint": {"type": "openai-chat", "model": "bench", "base_url": base_url},
            "payloads": {"prompts": ["Write a short poem about load testing."], "max_tokens": 1},
            "load": {"clients": clients, "run_duration": duration, "shards": shards},
            "plots": False,
        }
    )
    run = asyncio.run(ShardedRun.claim(spec, f"shards-{shards}"))
    with ProcessPoolExecutor(shards, mp_context=get_context("spawn")) as pool:
        list(pool.map(abs, range(shards)))  # the processes are up before the start is set
        start = run.pick_start(1.5)
        futures = [
            pool.submit(_shard, spec.model_dump_json(by_alias=True), run.url, k, start.isoformat())
            for k in range(shards)
        ]
        outcomes = [f.result() for f in futures]
    result = merge_shards(run)
    stats = result.stats
    window = (result.last_request_time - result.first_request_time).total_seconds()
    return {
        "requests": result.total_requests,
        "rps": round(result.total_requests / window, 1),
        "cpu_us_per_request": round(sum(o["cpu_s"] for o in outcomes) / result.total_requests * 1e6, 1),
        "start_skew_ms_max": round((stats["start_skew_s-max"] or 0) * 1000, 3),
        "first_request_spread_ms": round((stats.get("first_request_spread_s") or 0) * 1000, 3),
        "client_bound": stats["client_bound"],
    }


def merge_benchmark(out: str, total: int) -> dict[str, Any]:
    """Two synthetic shard folders of ``total`` / 2 responses each, merged."""
    spec = parse_spec(
        {
            "output": out,
            "endpoint": {"type": "openai-chat", "model": "bench", "base_url": "http://127.0.0.1:9/v1"},
            "payloads": {"prompts": ["x"]},
            "load": {"clients": 2, "n_requests": 1, "shards": 2},
        }
    )
    folder = RunFolder(out, "merge-1m")
    folder.claim()
    run = ShardedRun(spec=spec, run_name="merge-1m", folder=folder, config={"load_mode": "clients"})
    base = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for k in range(2):
        shard = Path(out) / "merge-1m" / "shards" / str(k)
        shard.mkdir(parents=True)
        with open(shard / "responses.jsonl", "wb") as handle:
            for i in range(total // 2):
                ttft = 0.05 + (i % 997) / 10_000
                handle.write(
                    orjson.dumps(
                        {
                            "id": f"{k}-{i}",
                            "response_text": "ok",
                            "time_to_first_token": ttft,
                            "time_to_last_token": ttft + 0.2,
                            "time_per_output_token": 0.004,
                            "num_tokens_input": 12,
                            "num_tokens_output": 50,
                            "request_time": (base + timedelta(microseconds=i * 500 + k)).isoformat(),
                            "error": None,
                            "error_type": None,
                        }
                    )
                    + b"\n"
                )
        (shard / "stats.json").write_bytes(orjson.dumps({"total_requests": total // 2, "interrupted": False}))
    began = time.perf_counter()
    result = merge_shards(run)
    seconds = time.perf_counter() - began
    assert result.total_requests == total
    return {
        "merge_seconds_1m": round(seconds * 1_000_000 / total, 2),
        "merge_responses": total,
        "merge_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--merge-responses", type=int, default=1_000_000)
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    out: dict[str, Any] = {"cpus": cpus, "load_avg_1m": round(os.getloadavg()[0], 2)}
    emulator, base_url = start_emulator(cpus - 1)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for shards in (1, 2):
                out[f"shards_{shards}"] = sharded(base_url, tmp, shards, args.clients, args.duration)
    finally:
        emulator.terminate()
        emulator.wait(10)
    with tempfile.TemporaryDirectory() as tmp:
        out.update(merge_benchmark(tmp, args.merge_responses))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
