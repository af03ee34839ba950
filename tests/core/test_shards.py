"""Sharded runs in the engine: the load rules, the partition, the start gate and the exact merge.

The shards here run in one process (two Runners on the test's loop, against the emulator on
the same loop): the engine part does not care where a shard runs. Processes and Prefect are
tested in tests/tasks/test_shards_prefect.py.
"""

import asyncio
import time
from datetime import datetime, timedelta, timezone

import numpy as np
import orjson
import pytest

from llmeter_core import ConfigError, Runner
from llmeter_core.load_plan import LoadPlan
from llmeter_core.results import Result
from llmeter_core.schedule import Schedule
from llmeter_core.shard_merge import finish_sharded_run, merge_shards
from llmeter_core.shards import PREPARE_SHARE, ShardedRun, run_shard, shard_url, start_allowance_s
from llmeter_core.spec import parse_spec
from tests.fakes import FakeEndpoint


def spec_for(base_url: str, tmp_path, **load):
    return parse_spec(
        {
            "output": str(tmp_path),
            "endpoint": {"type": "openai-chat", "model": "m", "base_url": base_url},
            "payloads": {"prompts": ["one two three", "four five", "six"], "max_tokens": 8},
            "load": load,
            "plots": False,
        }
    )


# -- rules ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "load, field",
    [
        ({"clients": 2, "n_requests": 1, "shards": 0}, "load.shards"),
        ({"clients": 2, "n_requests": 1, "shards": True}, "load.shards"),
        ({"clients": 1, "n_requests": 1, "shards": 2}, "load"),
        ({"n_requests": 1, "shards": 2}, "load"),
        ({"clients": 2, "n_requests": 1, "shard_pool": "p"}, "load"),
        ({"clients": 2, "n_requests": 1, "shards": 2, "shard_pool": ""}, "load.shard_pool"),
        ({"rate": 5.0, "n_requests": 10, "shards": 3, "max_concurrency": 2}, "load"),
    ],
)
def test_bad_shard_options_name_their_field(tmp_path, load, field):
    with pytest.raises(ConfigError) as caught:
        spec_for("http://127.0.0.1:9/v1", tmp_path, **load)
    assert any(f == field for f, _ in caught.value.problems), str(caught.value)
    assert "shard" in str(caught.value)


def test_a_runner_is_one_process_and_needs_its_shard_index():
    with pytest.raises(ConfigError) as caught:
        Runner(FakeEndpoint(), [{"prompt": "x"}], clients=2, n_requests=1, shards=2)
    assert caught.value.field == "shards" and "shard_index" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        Runner(FakeEndpoint(), [{"prompt": "x"}], clients=2, n_requests=1, shards=2, shard_index=2)
    assert caught.value.field == "shard_index"


def test_clients_are_dealt_out_and_every_client_runs_once():
    plans = [LoadPlan.build(clients=7, rate=None, n_requests=1, shards=3, shard_index=k) for k in range(3)]
    assert [p.clients for p in plans] == [3, 2, 2]
    ids = sorted(c for p in plans for c in p.client_ids())
    assert ids == list(range(7))


def test_a_schedule_is_partitioned_exactly():
    schedule = Schedule(rate=300.0, arrival="poisson", seed=3, duration_s=20.0)
    whole = schedule.offsets()
    parts = [np.concatenate(list(schedule.shard(k, 3))) for k in range(3)]
    assert sum(p.size for p in parts) == whole.size
    assert np.array_equal(np.sort(np.concatenate(parts)), whole)
    plan = LoadPlan.build(clients=None, rate=300.0, run_duration=20.0, shards=3, shard_index=1)
    assert plan.offered_rate() == pytest.approx(100.0) and plan.connections() == 100


# -- the run and the merge ------------------------------------------------------------------
async def _sharded(spec, start_in: float = 0.3):
    run = await ShardedRun.claim(spec, "run")
    start = run.pick_start(start_in)
    results = await asyncio.gather(
        *(run_shard(spec, run.url, k, start, handle_signals=False) for k in range(run.count))
    )
    return run, start, results


async def test_two_shards_merge_exactly_and_count_what_the_server_saw(emulator, tmp_path):
    emu = await emulator("openai", ttft_ms=5, itl_ms=1, output_tokens=6)
    spec = spec_for(f"{emu.url}/v1", tmp_path, clients=5, n_requests=4, shards=2)
    run, start, results = await _sharded(spec)
    assert [r.total_requests for r in results] == [12, 8]  # 3 and 2 clients, 4 requests each
    merged = await finish_sharded_run(run)
    served = emu.stats()["requests"]
    assert merged.total_requests == served == 20

    loaded = Result.load(str(tmp_path / "run"))
    assert loaded.load_warnings == []  # recomputed from the merged responses.jsonl: no difference
    stats = orjson.loads((tmp_path / "run" / "stats.json").read_bytes())
    assert stats["total_requests"] == len(loaded.responses) == 20
    recomputed = loaded.stats
    for key in ("time_to_first_token-p50", "time_to_first_token-p99", "time_to_last_token-average"):
        assert stats[key] == recomputed[key]
    # the send window: earliest first request to the latest last one, of any shard
    shard_stats = [orjson.loads((tmp_path / "run" / "shards" / str(k) / "stats.json").read_bytes()) for k in (0, 1)]
    assert stats["first_request_time"] == min(s["first_request_time"] for s in shard_stats)
    assert stats["last_request_time"] == max(s["last_request_time"] for s in shard_stats)
    assert stats["partial"] is False and stats["shards"] == 2 and stats["clients"] == 5
    for report in stats["shard_reports"]:
        assert report["status"] == "complete" and report["pid"] and report["host"]
        assert 0 <= report["start_skew_s"] < 0.05 and report["ready_before_start_s"] > 0
    assert stats["start_skew_s-max"] < 0.05
    for s in shard_stats:  # no send before the start, by the system clock the start is set on
        on_system_clock = parse(s["first_request_time"]) - timedelta(seconds=s["clock_offset_s"])
        assert on_system_clock >= start - timedelta(milliseconds=1)
    config = orjson.loads((tmp_path / "run" / "run_config.json").read_bytes())
    assert config["shards"] == 2 and config["start_at"] and config["clients"] == 5


def _times(result):
    return {r.scheduled_time for r in result.responses}


def parse(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_an_open_loop_rate_split_over_two_shards_sends_the_asked_schedule(emulator, tmp_path):
    emu = await emulator("openai", ttft_ms=2, itl_ms=0, output_tokens=2)
    spec = spec_for(f"{emu.url}/v1", tmp_path, rate=200.0, n_requests=200, shards=2)
    run, start, results = await _sharded(spec)
    assert [r.total_requests for r in results] == [100, 100]
    merged = await finish_sharded_run(run)
    assert merged.total_requests == 200 == emu.stats()["requests"]
    stats = merged.stats
    assert stats["offered_rate"] == pytest.approx(200.0)
    # each shard sent exactly its part of the one schedule of the run: every other send,
    # at its offset from the start (to the microsecond of scheduled_time)
    loaded = Result.load(str(tmp_path / "run"))
    schedule = Schedule(rate=200.0, n_requests=200)
    for k in range(2):
        mine = sorted(r.scheduled_time for r in loaded.responses if r.scheduled_time in _times(results[k]))
        offsets_us = [round((t - mine[0]).total_seconds() * 1e6) for t in mine]
        expected = np.concatenate(list(schedule.shard(k, 2)))
        assert np.abs(np.array(offsets_us) - (expected - expected[0]) / 1000).max() <= 1


async def test_client_bound_if_any_shard_was_naming_it(tmp_path):
    spec = spec_for("http://127.0.0.1:9/v1", tmp_path, clients=2, n_requests=3, shards=2)
    run = await ShardedRun.claim(spec, "run")
    start = run.pick_start(0.05)
    endpoint_results = []
    for k in range(2):
        runner = Runner(
            FakeEndpoint(ttft=0.001, itl=0.001, tokens=3),
            [{"prompt": "x"}],
            clients=2,
            n_requests=3,
            shards=2,
            shard_index=k,
            start_at=start,
            output_path=f"{run.url}/shards",
            run_name=str(k),
            handle_signals=False,
        )
        endpoint_results.append(await runner.run())
    stats_path = tmp_path / "run" / "shards" / "1" / "stats.json"
    stats = orjson.loads(stats_path.read_bytes())
    stats.update(client_bound=True, client_bound_reason="generator CPU 97% of a core (limit 90%)")
    stats_path.write_bytes(orjson.dumps(stats))
    merged = merge_shards(run)
    assert merged.stats["client_bound"] is True
    assert merged.stats["client_bound_reason"] == "shard 1: generator CPU 97% of a core (limit 90%)"


async def test_a_killed_and_a_never_started_shard_leave_a_labelled_partial_run(tmp_path):
    spec = spec_for("http://127.0.0.1:9/v1", tmp_path, clients=3, n_requests=4, shards=3)
    run = await ShardedRun.claim(spec, "run")
    start = run.pick_start(0.05)
    for k in range(2):
        await Runner(
            FakeEndpoint(ttft=0.001, itl=0.001, tokens=3),
            [{"prompt": "x"}],
            clients=3,
            n_requests=4,
            shards=3,
            shard_index=k,
            start_at=start,
            output_path=f"{run.url}/shards",
            run_name=str(k),
            handle_signals=False,
        ).run()
    killed = tmp_path / "run" / "shards" / "1"
    for name in ("stats.json", "summary.json"):  # a SIGKILL leaves neither
        (killed / name).unlink()
    with open(killed / "responses.jsonl", "ab") as handle:
        handle.write(b'{"id": "torn')  # and maybe a torn last line
    merged = merge_shards(run, {1: "the process ended abruptly (SIGKILL)", 2: "no worker took it"})
    stats = merged.stats
    assert stats["partial"] is True and merged.total_requests == 8
    reports = {r["index"]: r for r in stats["shard_reports"]}
    assert reports[0]["status"] == "complete" and reports[0]["total_requests"] == 4
    assert reports[1]["status"] == "killed" and reports[1]["total_requests"] == 4 and reports[1]["damaged_lines"] == 1
    assert "SIGKILL" in reports[1]["reason"]
    assert reports[2]["status"] == "never started" and reports[2]["reason"] == "no worker took it"
    assert "shard 1 killed" in stats["partial_reason"] and "shard 2 never started" in stats["partial_reason"]
    loaded = Result.load(str(tmp_path / "run"))
    assert loaded.total_requests == 8 and loaded.load_warnings == []
    assert shard_url(run.url, 2).endswith("/run/shards/2")


async def test_a_late_shard_records_its_skew(tmp_path):
    start = datetime.now(timezone.utc) - timedelta(seconds=0.5)
    result = await Runner(
        FakeEndpoint(ttft=0.001, itl=0.001, tokens=3),
        [{"prompt": "x"}],
        clients=2,
        n_requests=1,
        shards=2,
        shard_index=0,
        start_at=start,
        handle_signals=False,
    ).run()
    assert result.stats["start_skew_s"] >= 0.5 and result.stats["ready_before_start_s"] <= -0.5


async def test_the_live_view_merges_what_every_shard_has_written_so_far(emulator, tmp_path):
    from llmeter_core.shard_live import ShardTail

    emu = await emulator("openai", ttft_ms=2, itl_ms=1, output_tokens=3)
    spec = spec_for(f"{emu.url}/v1", tmp_path, clients=3, n_requests=5, shards=2)
    run, _, results = await _sharded(spec)
    tail = ShardTail(run.url, 2)
    torn = tmp_path / "run" / "shards" / "1" / "responses.jsonl"
    with open(torn, "ab") as handle:
        handle.write(b'{"id": "still being wri')  # a line a shard is in the middle of writing
    snapshot = tail.snapshot("run", 1.0, 15, None)
    assert snapshot.responses_done == 15 == sum(r.total_requests for r in results)
    assert snapshot.progress == 1.0 and snapshot.stats["shards_reporting"] == 2
    whole = (await finish_sharded_run(run)).stats
    assert snapshot.stats["time_to_first_token-p90"] == whole["time_to_first_token-p90"]
    assert tail.snapshot("run", 2.0, 15, None).responses_done == 15  # read once, not twice


def test_the_start_allowance_grows_with_the_time_the_shards_took_to_get_ready(tmp_path):
    spec = spec_for("http://127.0.0.1:9/v1", tmp_path, clients=4, n_requests=1, shards=2)
    quick, slow = start_allowance_s(spec, 3.0, 2.0), start_allowance_s(spec, 3.0, 20.0)
    assert slow - quick == pytest.approx(PREPARE_SHARE * 18.0)  # a loaded machine: later start
    assert quick > 3.0


def test_the_wall_clock_offset_is_read_at_one_moment_even_when_reads_are_preempted(monkeypatch):
    """The first counter read lands 5 ms before its wall-clock read (the process was
    preempted between them): the engine's clock anchor must not move by it."""
    from llmeter_core import clock

    truth = clock.wall_minus_perf_ns()
    real, calls = time.perf_counter_ns, []

    def preempted_once():
        calls.append(1)
        return real() - (5_000_000 if len(calls) == 1 else 0)

    monkeypatch.setattr(clock.time, "perf_counter_ns", preempted_once)
    assert abs(clock.wall_minus_perf_ns() - truth) < 1_000_000
    calls.clear()
    assert abs(clock.wall_minus_perf_ns(samples=1) - truth) > 2_000_000  # a single sample is fooled
