"""Pacing benchmark: how exactly an open-loop run keeps its schedule, and what it costs.

Run it with ``.venv/bin/python benchmarks/pacing_benchmark.py``; it prints ONE JSON line.
The emulator runs in its own process at zero latency with 1-token replies (so the server
is never the limit), and the engine sends a constant schedule at ``--rate`` (default
2,000 req/s) for ``--duration`` seconds (default 5), three rounds, median kept:

- ``achieved_rate`` and ``achieved_vs_target``: sends per second over the send window
  (stats.json ``achieved_rate``) against the target; target within 1 %;
- ``dispatch_delay_p50_ms`` / ``dispatch_delay_p99_ms``: actual send minus scheduled send
  (stats.json ``dispatch_delay-*``); targets 0.2 ms and 2 ms;
- ``cpu_us_per_request_open`` / ``cpu_us_per_request_closed``: this process's CPU per
  request of the open-loop run and of a closed-loop run of the same length sending as fast
  as 32 clients can; target: open within 10 % of closed;
- ``cpu_us_per_request_closed_same_rate``: a closed loop at the same request rate (8 clients
  against an emulator whose time to first token makes them send ``--rate`` requests per
  second in all), so it sleeps between requests as a paced generator does: the fair
  comparison at a rate below what the machine can do (see the benchmarks README);
- ``timer``: the pacer's wake-up mechanism (``timerfd`` on Linux, else the event loop's);
  ``load_avg_1m``: the machine's load when it started (read every figure against it).

``--timer loop`` measures the event loop's own timers instead of the timerfd, to show why
the engine does not rely on them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout, installed or not

from benchmarks.engine_benchmark import chat_body, emulator_process  # noqa: E402
from llmeter_core import Runner  # noqa: E402
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint  # noqa: E402


def one_run(base_url: str, body: dict, duration: float, rate: float | None, clients: int | None) -> dict:
    endpoint = OpenAIChatEndpoint(model_id="bench", base_url=base_url, stream=True)
    options = {"rate": rate} if rate is not None else {"clients": clients}
    with tempfile.TemporaryDirectory() as out:
        runner = Runner(endpoint, body, run_duration=duration, output_path=out, handle_signals=False, **options)
        cpu0 = time.process_time()
        result = runner.run_sync()
        cpu = time.process_time() - cpu0
    stats = result.stats
    return {
        "requests": result.total_requests,
        "failed": stats["failed_requests"],
        "achieved_rate": stats.get("achieved_rate"),
        "rps": result.total_requests / duration,
        "dispatch_p50_ms": (stats.get("dispatch_delay-p50") or 0) * 1000,
        "dispatch_p99_ms": (stats.get("dispatch_delay-p99") or 0) * 1000,
        "cpu_us_per_request": cpu / max(result.total_requests, 1) * 1e6,
        "client_bound": stats.get("client_bound"),
        "client_bound_reason": stats.get("client_bound_reason"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timer", choices=("timerfd", "loop"), default="timerfd")
    args = parser.parse_args()
    if args.timer == "loop":
        import llmeter_core.hrtimer as hrtimer

        hrtimer._libc = lambda: None  # type: ignore[assignment]  # the event loop's own timers
    load = os.getloadavg()[0]
    paced_clients = 8
    with (
        emulator_process(ttft_ms=0, itl_ms=0, output_tokens=1) as url,
        emulator_process(ttft_ms=paced_clients / args.rate * 1000, itl_ms=0, output_tokens=1) as paced_url,
    ):
        body = chat_body(url, 1)
        opened, closed, paced = [], [], []
        for _ in range(args.rounds):  # interleaved, so a noisy neighbour hits all alike
            opened.append(one_run(url, body, args.duration, args.rate, None))
            closed.append(one_run(url, body, args.duration, None, 32))
            paced.append(one_run(paced_url, body, args.duration, None, paced_clients))

    def median(rows: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in rows if r[key] is not None)

    achieved = median(opened, "achieved_rate")
    print(
        json.dumps(
            {
                "target_rate": args.rate,
                "achieved_rate": round(achieved, 1),
                "achieved_vs_target": round(achieved / args.rate, 4),
                "dispatch_delay_p50_ms": round(median(opened, "dispatch_p50_ms"), 3),
                "dispatch_delay_p99_ms": round(median(opened, "dispatch_p99_ms"), 3),
                "cpu_us_per_request_open": round(median(opened, "cpu_us_per_request"), 1),
                "cpu_us_per_request_closed": round(median(closed, "cpu_us_per_request"), 1),
                "cpu_us_per_request_closed_same_rate": round(median(paced, "cpu_us_per_request"), 1),
                "closed_same_rate_rps": round(median(paced, "rps"), 1),
                "closed_loop_rps": round(median(closed, "rps"), 1),
                "failed": sum(r["failed"] for r in opened + closed),
                "client_bound_open": [r["client_bound"] for r in opened],
                "timer": args.timer,
                "load_avg_1m": round(load, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
