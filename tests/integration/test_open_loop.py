"""Open-loop load against the emulator: the schedule is kept whatever the endpoint does,
latency is measured from the schedule, and the generator judges itself."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta

import numpy as np
import pytest

from llmeter_core import Callback, Runner, create_endpoint
from llmeter_core.emulator import EmulatorThread
from llmeter_core.openloop import MAX_HEAD_START_NS
from llmeter_core.schedule import Schedule
from tests.event_loops import uvloop_importable
from tests.processes import pythonpath
from tests.timing import MachineLag

PAYLOAD = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 4}
#: The CLI's loop (``llmeter_core/event_loop.py``): uvloop where it is installed.
_EXPECTED_LOOP = "uvloop" if uvloop_importable() else "asyncio"


def _endpoint(url: str):
    return create_endpoint("openai-chat", model_id="m", base_url=url + "/v1", stream=True)


def test_a_count_bound_rate_run_sends_exactly_its_schedule():
    with EmulatorThread("openai", ttft_ms=5, itl_ms=1, output_tokens=3) as emu:
        result = Runner(_endpoint(emu.url), PAYLOAD, rate=100.0, arrival="poisson", seed=4, n_requests=40).run_sync()
        served = emu.stats()["requests"]
    assert result.total_requests == 40 == served
    ok = sorted(result.responses, key=lambda r: r.scheduled_time)
    offsets = np.array([(r.scheduled_time - ok[0].scheduled_time) / timedelta(microseconds=1) for r in ok])
    expected = Schedule(rate=100.0, arrival="poisson", seed=4, n_requests=40).offsets() / 1e3
    assert np.allclose(offsets, expected - expected[0], atol=1.5)  # the same sends, to the microsecond
    for r in ok:
        # a send may leave a little early: the dispatcher launches sends ahead by the lag it learned
        assert r.dispatch_delay is not None and r.dispatch_delay > -MAX_HEAD_START_NS / 1e9
        assert r.time_to_first_token_from_schedule == pytest.approx(r.dispatch_delay + r.time_to_first_token)
    stats = result.stats
    assert stats["load_mode"] == "rate" and stats["offered_rate"] == 100.0
    assert stats["dispatch_delay-p50"] is not None and stats["achieved_rate"] > 0
    line = json.dumps(ok[0].to_dict())
    assert '"scheduled_time"' in line and '"dispatch_delay"' in line


def test_closed_loop_lines_have_no_schedule_fields():
    with EmulatorThread("openai", ttft_ms=0, itl_ms=0, output_tokens=1) as emu:
        result = Runner(_endpoint(emu.url), PAYLOAD, clients=2, n_requests=2).run_sync()
    assert all(r.scheduled_time is None for r in result.responses)
    assert b"scheduled_time" not in result.responses[0].to_json()
    assert result.stats["load_mode"] == "clients" and result.stats["dispatch_delay-p50"] is None


def _quarters(values: list[float]) -> tuple[float, float]:
    n = len(values) // 4
    return float(np.median(values[:n])), float(np.median(values[-n:]))


def test_beyond_capacity_open_loop_latency_grows_and_closed_loop_hides_it():
    """Twice the emulator's capacity (4 at once, 100 ms each = 40 req/s; offered 80 req/s):
    measured from the schedule, time to first token grows through the run; 4 closed-loop
    clients never see the queue."""
    service_ms = 100.0
    with EmulatorThread("openai", ttft_ms=service_ms, itl_ms=0, output_tokens=1, max_concurrency=4) as emu:
        open_loop = Runner(_endpoint(emu.url), PAYLOAD, rate=80.0, run_duration=3.0, grace_period=10).run_sync()
        emu.reset()
        closed = Runner(_endpoint(emu.url), PAYLOAD, clients=4, run_duration=3.0).run_sync()
    sent = sorted((r for r in open_loop.responses if r.ok), key=lambda r: r.scheduled_time)
    first, last = _quarters([r.time_to_first_token_from_schedule for r in sent])
    assert last > first + 5 * service_ms / 1000  # the queue builds up: seconds by the end
    c_first, c_last = _quarters([r.time_to_first_token for r in closed.responses if r.ok])
    assert c_last < c_first * 1.5 + 0.02
    assert open_loop.stats["time_to_first_token_from_schedule-p90"] > 3 * closed.stats["time_to_first_token-p90"]


def test_max_concurrency_caps_requests_in_flight_and_the_wait_is_dispatch_delay():
    with EmulatorThread("openai", ttft_ms=100, itl_ms=0, output_tokens=1) as emu:
        result = Runner(_endpoint(emu.url), PAYLOAD, rate=60.0, max_concurrency=3, run_duration=2.0).run_sync()
        stats = emu.stats()
    assert stats["max_in_flight"] <= 3 and result.stats["max_in_flight"] <= 3
    assert stats["requests"] == result.total_requests
    late = [r.dispatch_delay for r in result.responses if r.dispatch_delay is not None]
    assert max(late) > 0.2  # 60 req/s against 30 req/s of slots: sends queue on the client
    assert result.stats["unsent_requests"] > 0  # held at the cap when the run ended


class _Starve(Callback):
    """A CPU-bound callback: every send blocks the event loop for 40 ms."""

    async def before_invoke(self, payload):
        end = time.perf_counter() + 0.04
        while time.perf_counter() < end:
            pass
        return None


def test_a_starved_generator_is_marked_client_bound():
    with EmulatorThread("openai", ttft_ms=5, itl_ms=0, output_tokens=1) as emu:
        result = Runner(_endpoint(emu.url), PAYLOAD, rate=50.0, run_duration=2.0, callbacks=[_Starve()]).run_sync()
    stats = result.stats
    assert stats["client_bound"] is True
    assert "dispatch_delay-p99" in stats["client_bound_reason"] or "event_loop_lag" in stats["client_bound_reason"]


def _emulator_process(*args: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmeter_core.emulator.cli", "openai", "--port", "0", *args],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline()  # type: ignore[union-attr]
    assert line.startswith("listening on "), line
    return proc, line.split()[-1]


def test_a_normal_run_is_not_client_bound_and_a_spec_file_runs_from_the_cli(tmp_path):
    """The emulator in its own process (a thread would share the GIL with the generator)."""
    proc, url = _emulator_process("--ttft-ms", "10", "--itl-ms", "1", "--output-tokens", "4")
    try:
        spec = tmp_path / "rate.yaml"
        spec.write_text(
            "endpoint: {type: openai-chat, model: m, base_url: '%s/v1', stream: true}\n"
            "load: {rate: 50, arrival: poisson, run_duration: 2}\n"
            "payloads: {prompts: ['hello there'], max_tokens: 4}\n"
            "output: %s\nrun_name: rate-run\n" % (url, tmp_path / "out")
        )
        with MachineLag() as busy:
            done = subprocess.run(
                [sys.executable, "-m", "llmeter_core.cli", "run", str(spec), "--no-display"],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "PYTHONPATH": pythonpath()},
            )
    finally:
        proc.terminate()
        proc.wait(10)
    assert done.returncode == 0, done.stderr
    assert "offered 50.0 req/s" in done.stdout
    stats = json.loads((tmp_path / "out" / "rate-run" / "stats.json").read_text())
    config = json.loads((tmp_path / "out" / "rate-run" / "run_config.json").read_text())
    assert config["load_mode"] == "rate" and config["arrival"] == "poisson" and config["event_loop"] == _EXPECTED_LOOP
    assert stats["offered_rate"] == 50.0 and stats["total_requests"] > 50
    if busy.p99_ms < 2.0:  # a quiet machine: 50 req/s is nothing for the generator
        assert stats["client_bound"] is False, stats["client_bound_reason"]
    else:  # so busy that an idle thread woke late: the generator rightly says it was starved, or not
        assert stats["client_bound"] is False or "limit 5 ms" in stats["client_bound_reason"], busy.p99_ms
    assert stats["client_cpu_utilization-mean"] is not None and stats["event_loop_lag-p99"] is not None
