"""Runner behaviour with an in-process endpoint (no network)."""

import threading
import time
from datetime import timedelta

import numpy as np
import orjson
import pytest

from llmeter_core import Callback, ConfigError, Result, Runner
from llmeter_core.response import INCOMPLETE, TIMEOUT
from tests.fakes import FakeEndpoint

PAYLOADS = [{"prompt": f"hello number {i}"} for i in range(10)]


async def test_count_bound_sends_n_per_client_and_saves(tmp_path):
    endpoint = FakeEndpoint(ttft=0.001, itl=0.001, tokens=4)
    result = await Runner(endpoint, PAYLOADS, clients=3, n_requests=5, output_path=tmp_path, run_name="r1").run()
    assert result.total_requests == 15 and len(result.responses) == 15
    assert endpoint.opened == 1 and endpoint.closed == 1
    folder = tmp_path / "r1"
    assert sorted(p.name for p in folder.iterdir()) == [
        "payload.jsonl",
        "responses.jsonl",
        "run_config.json",
        "stats.json",
        "summary.json",
    ]
    lines = (folder / "responses.jsonl").read_bytes().splitlines()
    assert len(lines) == 15
    stats = orjson.loads((folder / "stats.json").read_bytes())
    assert stats["total_requests"] == 15 and stats["failed_requests"] == 0
    assert stats["num_tokens_output-p50"] == 4
    # time_per_output_token = (ttlt - ttft) / (n - 1)
    r = result.responses[0]
    assert r.time_per_output_token == pytest.approx((r.time_to_last_token - r.time_to_first_token) / 3)
    # request_time keeps microseconds
    assert orjson.loads(lines[0])["request_time"].count(".") == 1


async def test_stats_json_equals_numpy_over_responses_jsonl_and_reload(tmp_path):
    endpoint = FakeEndpoint(ttft=0.002, itl=0.001, tokens=5, fail_every=7)
    await Runner(endpoint, PAYLOADS, clients=4, n_requests=10, output_path=tmp_path, run_name="r").run()
    folder = tmp_path / "r"
    stats = orjson.loads((folder / "stats.json").read_bytes())
    rows = [orjson.loads(line) for line in (folder / "responses.jsonl").read_bytes().splitlines()]
    good = [r["time_to_first_token"] for r in rows if r["error"] is None]
    assert len(good) == 40 - stats["failed_requests"] and stats["failed_requests"] > 0
    for p in (50, 90, 95, 99):
        assert stats[f"time_to_first_token-p{p}"] == pytest.approx(np.percentile(good, p), rel=1e-12)
    loaded = Result.load(str(folder))
    assert loaded.stats == stats
    assert len(loaded.responses) == 40
    summary_only = Result.load(str(folder), load_responses=False)
    assert summary_only.responses == [] and summary_only.stats == stats


async def test_mid_stream_failure_keeps_partial_data():
    result = await Runner(FakeEndpoint(ttft=0.001, tokens=3, fail_every=2), PAYLOADS, n_requests=4).run()
    failed = [r for r in result.responses if not r.ok]
    assert len(failed) == 2
    assert all(r.error_type == "scripted_error" and r.response_text == "w0" and r.time_to_first_token for r in failed)
    assert result.stats["errors"] == {"scripted_error": 2}


async def test_duration_run_ends_on_time_and_drains():
    """Checked against the requests' own record, not wall-clock windows: each takes at least the
    fake's 50 ms (on a busy machine, longer, and the bounds follow)."""
    clients, duration = 4, 0.5
    result = await Runner(FakeEndpoint(ttft=0.05, tokens=1), PAYLOADS, clients=clients, run_duration=duration).run()
    assert result.stats["incomplete_requests"] == 0  # drained: in-flight requests completed
    ttlts = [r.time_to_last_token for r in result.responses]
    assert min(ttlts) >= 0.05
    # every client sent for the whole duration, one request after another ...
    assert result.total_requests >= clients * int(duration // max(ttlts))
    assert result.total_requests <= clients * (int(result.total_test_time // 0.05) + 1)
    # ... none was sent after its end, and the run ended when the last of them was done
    assert all(r.request_time <= result.start_time + timedelta(seconds=duration + max(ttlts)) for r in result.responses)
    last_done = max(r.request_time + timedelta(seconds=r.time_to_last_token) for r in result.responses)
    assert result.total_test_time >= duration
    assert result.end_time - last_done < timedelta(seconds=max(ttlts))


async def test_duration_cancel_mode_records_incomplete():
    """Each client always has a request in flight (0.3 s each, back to back), so the end of the
    duration cancels exactly one per client, whatever completed before it."""
    result = await Runner(
        FakeEndpoint(ttft=0.3, tokens=1), PAYLOADS, clients=3, run_duration=0.4, end_mode="cancel"
    ).run()
    assert result.stats["errors"] == {INCOMPLETE: 3}
    assert result.stats["failed_requests"] == 0
    done = [r for r in result.responses if r.ok]
    assert len(done) == result.total_requests - 3 and all(r.time_to_last_token >= 0.3 for r in done)


async def test_drain_grace_period_bounds_the_wait():
    endpoint = FakeEndpoint(ttft=5.0, tokens=1)
    start = time.perf_counter()
    result = await Runner(endpoint, PAYLOADS, clients=2, run_duration=0.1, grace_period=0.2).run()
    assert time.perf_counter() - start < endpoint.ttft  # did not wait for the 5 s responses
    assert result.total_test_time >= 0.1 + 0.2  # waited out the grace period
    assert result.stats["errors"] == {INCOMPLETE: 2}


async def test_timeout_is_recorded_and_the_run_goes_on():
    # LLMeter returned 0 responses when the timeout was shorter than the responses.
    result = await Runner(FakeEndpoint(ttft=0.3, tokens=1), PAYLOADS, clients=2, n_requests=2, timeout=0.05).run()
    assert result.total_requests == 4
    assert result.stats["errors"] == {TIMEOUT: 4}


async def test_request_stop_from_another_thread_stops_within_a_second(tmp_path):
    runner = Runner(
        FakeEndpoint(ttft=0.02, tokens=1),
        PAYLOADS,
        clients=4,
        run_duration=30,
        output_path=tmp_path,
        run_name="stopped",
    )
    stopped_at: list[float] = []

    def stop() -> None:
        stopped_at.append(time.perf_counter())
        runner.request_stop()

    threading.Timer(0.3, stop).start()
    result = await runner.run()
    ended = time.perf_counter()
    # a tenth of its 30 s: the stop was not left to the duration (on a quiet machine: ~0 s)
    assert ended - stopped_at[0] < 3.0
    assert result.interrupted and result.stats["interrupted"] is True
    assert result.total_requests > 0
    saved = orjson.loads((tmp_path / "stopped" / "stats.json").read_bytes())
    assert saved["interrupted"] is True and saved["total_requests"] == result.total_requests


async def test_warmup_is_excluded():
    endpoint = FakeEndpoint(tokens=1)
    result = await Runner(endpoint, PAYLOADS, clients=2, n_requests=3, warmup_requests=2).run()
    assert endpoint.calls == 10 and result.total_requests == 6


async def test_clients_send_different_seeded_orders():
    seen: list[str] = []
    endpoint = FakeEndpoint(on_payload=lambda p: seen.append(p["prompt"]), tokens=1)
    await Runner(endpoint, PAYLOADS, clients=1, n_requests=10, seed=3).run()
    first = list(seen)
    assert sorted(first) == sorted(p["prompt"] for p in PAYLOADS)  # one pass covers every payload
    seen.clear()
    await Runner(
        FakeEndpoint(on_payload=lambda p: seen.append(p["prompt"]), tokens=1),
        PAYLOADS,
        clients=1,
        n_requests=10,
        seed=3,
    ).run()
    assert seen == first  # deterministic
    from llmeter_core.payloads import client_order

    orders = [[next(it)["prompt"] for _ in range(10)] for it in (client_order(PAYLOADS, c, 0) for c in range(2))]
    assert orders[0] != orders[1]


class Tagger(Callback):
    def __init__(self):
        self.after = 0
        self.ran = []

    async def before_run(self, runner):
        self.ran.append("before")

    async def before_invoke(self, payload):
        return {**payload, "tag": "x"}

    async def after_invoke(self, response):
        self.after += 1

    async def after_run(self, result):
        self.ran.append("after")

    def contributed_stats(self):
        return {"cost_total": 1.25}


async def test_callbacks_change_payloads_and_contribute_stats(tmp_path):
    sent: list[dict] = []
    tagger = Tagger()
    await Runner(
        FakeEndpoint(on_payload=sent.append, tokens=1),
        PAYLOADS,
        n_requests=3,
        callbacks=[tagger],
        output_path=tmp_path,
        run_name="cb",
    ).run()
    assert all(p["tag"] == "x" for p in sent) and tagger.after == 3 and tagger.ran == ["before", "after"]
    assert orjson.loads((tmp_path / "cb" / "stats.json").read_bytes())["cost_total"] == 1.25
    assert Result.load(str(tmp_path / "cb")).stats["cost_total"] == 1.25


class NoUsageEndpoint(FakeEndpoint):
    """Streams text but reports no token counts (llama.cpp ignores include_usage)."""

    async def parse_response(self, raw, start_ns, out):
        await super().parse_response(raw, start_ns, out)
        out.num_tokens_output = None


class CostPerToken(Callback):
    """A cost callback: what it sees in after_invoke, and a per-response cost it adds."""

    def __init__(self):
        self.seen = []

    async def after_invoke(self, response):
        self.seen.append((response.num_tokens_input, response.num_tokens_output, response.time_per_output_token))
        response.annotations["cost"] = 2 * (response.num_tokens_output or 0)


async def test_after_invoke_sees_the_completed_response_and_its_changes_are_recorded(tmp_path):
    cost = CostPerToken()
    result = await Runner(
        NoUsageEndpoint(ttft=0.001, itl=0.002, tokens=4),
        PAYLOADS,
        n_requests=3,
        callbacks=[cost],
        output_path=tmp_path,
        run_name="cost",
    ).run()
    assert len(cost.seen) == 3
    for (n_in, n_out, tpot), response in zip(cost.seen, result.responses, strict=True):
        assert n_out == 4 and n_in == 3  # the tokenizer over "w0 w1 w2 w3" and "hello number i"
        assert tpot is not None and tpot == response.time_per_output_token > 0
    rows = [orjson.loads(line) for line in (tmp_path / "cost" / "responses.jsonl").read_bytes().splitlines()]
    assert [row["annotations"]["cost"] for row in rows] == [8, 8, 8]


async def test_low_memory_keeps_responses_on_disk_only(tmp_path):
    result = await Runner(
        FakeEndpoint(tokens=1), PAYLOADS, clients=2, n_requests=50, low_memory=True, output_path=tmp_path, run_name="lm"
    ).run()
    assert result.responses == [] and result.total_requests == 100
    assert len((tmp_path / "lm" / "responses.jsonl").read_bytes().splitlines()) == 100
    assert Result.load(str(tmp_path / "lm")).stats["total_requests"] == 100


async def test_secrets_never_reach_the_run_folder(tmp_path):
    await Runner(
        FakeEndpoint(api_key="sk-fake-test-key-0001"), PAYLOADS, n_requests=1, output_path=tmp_path, run_name="s"
    ).run()
    for file in (tmp_path / "s").iterdir():
        assert b"sk-fake-test-key" not in file.read_bytes()


async def test_existing_run_folder_is_refused_before_sending(tmp_path):
    await Runner(FakeEndpoint(tokens=1), PAYLOADS, n_requests=1, output_path=tmp_path, run_name="dup").run()
    endpoint = FakeEndpoint(tokens=1)
    with pytest.raises(ConfigError, match="run_name"):
        await Runner(endpoint, PAYLOADS, n_requests=1, output_path=tmp_path, run_name="dup").run()
    assert endpoint.calls == 0


async def test_live_snapshots_reach_sync_and_async_sinks():
    sync_seen, async_seen = [], []

    async def async_sink(snap):
        async_seen.append(snap)

    result = await Runner(
        FakeEndpoint(ttft=0.01, tokens=1),
        PAYLOADS,
        clients=2,
        run_duration=0.65,
        live_interval=0.2,
        live_sinks=[sync_seen.append, async_sink],
    ).run()
    for seen in (sync_seen, async_seen):
        assert len(seen) >= 3 and seen[-1].final and not seen[0].final
        assert seen[0].stats["total_requests"] > 0 and 0 < seen[0].progress < 1
        assert seen[-1].stats == result.stats


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n_requests": 1, "run_duration": 1}, "n_requests"),
        ({}, "n_requests"),
        ({"n_requests": 0}, "n_requests"),
        ({"run_duration": -1}, "run_duration"),
        ({"n_requests": 1, "clients": 0}, "clients"),
        ({"n_requests": 1, "timeout": 0}, "timeout"),
        ({"n_requests": 1, "end_mode": "stop"}, "end_mode"),
        ({"n_requests": 1, "run_name": "a/b"}, "run_name"),
        ({"n_requests": 1, "live_interval": 0}, "live_interval"),
    ],
)
def test_bad_options_name_the_field(kwargs, field):
    endpoint = FakeEndpoint()
    with pytest.raises(ConfigError) as info:
        Runner(endpoint, PAYLOADS, **kwargs)
    assert info.value.field == field
    assert endpoint.calls == 0


def test_timedelta_duration_and_run_sync():
    result = Runner(FakeEndpoint(ttft=0.01, tokens=1), PAYLOADS, run_duration=timedelta(milliseconds=200)).run_sync()
    slowest = max(r.time_to_last_token for r in result.responses)
    assert result.run_duration == pytest.approx(0.2) and result.total_requests >= int(0.2 // slowest)
