"""Sharded runs on Prefect's local process pool: one process per shard, one merged run folder.

Each test starts real shard processes (Prefect ``ProcessPoolTaskRunner``, spawn) against the
session emulator, whose ground truth (``/emulator/stats``) counts what was served.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path

import httpx
import orjson
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.sharded_run import sharded_load_test
from llmeter_core.results import Result
from llmeter_core.spec import parse_spec
from tasks.artifacts import artifact_key
from tests.processes import pythonpath

pytestmark = pytest.mark.usefixtures("prefect_harness")


def served(base_url: str) -> int:
    return int(httpx.get(base_url.removesuffix("/v1") + "/emulator/stats").json()["requests"])


def spec_for(base_url: str, tmp_path: Path, **load):
    return parse_spec(
        {
            "run_name": f"sharded-{uuid.uuid4().hex[:6]}",
            "output": str(tmp_path),
            "endpoint": {"type": "openai-chat", "model": "m", "base_url": base_url},
            "payloads": {"prompts": ["hello there", "count to ten"], "max_tokens": 12},
            "load": {"timeout": 10, **load},
            "plots": False,
        }
    )


async def test_a_rate_over_two_local_shards_is_one_exact_run(emulator_url, tmp_path):
    spec = spec_for(emulator_url, tmp_path, rate=60.0, run_duration=2.0, shards=2).model_copy(
        update={"live_interval": 0.5}
    )
    before = served(emulator_url)
    summary = await sharded_load_test(spec, start_allowance=5.0)
    folder = tmp_path / spec.run_name
    stats = orjson.loads((folder / "stats.json").read_bytes())

    assert stats["total_requests"] == served(emulator_url) - before == summary["total_requests"]
    assert stats["total_requests"] == pytest.approx(120, abs=2)  # 60 req/s for 2 s, over both shards
    reports = stats["shard_reports"]
    assert [r["status"] for r in reports] == ["complete", "complete"]
    assert len({r["pid"] for r in reports}) == 2 and os.getpid() not in {r["pid"] for r in reports}
    assert all(r["total_requests"] == pytest.approx(60, abs=1) for r in reports)
    assert stats["start_skew_s-max"] < 0.05, reports
    assert stats["offered_rate"] == pytest.approx(60.0)
    # sends per second over the merged send window (a sanity check: a busy machine sends late;
    # the exact partition is checked in tests/core/test_shards.py)
    assert stats["achieved_rate"] == pytest.approx(60.0, rel=0.25)
    loaded = Result.load(str(folder))
    assert loaded.load_warnings == []  # stats.json equals the stats recomputed from responses.jsonl
    assert loaded.total_requests == len(loaded.responses) == stats["total_requests"]
    assert stats["partial"] is False and summary["partial"] is False
    async with get_client() as client:  # the merged live view of both shards, in the parent's artifacts
        (live,) = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[artifact_key(spec.run_name, "live")]))
        )
    assert "running" in live.data and "responses" in live.data


async def test_a_shard_killed_mid_run_leaves_a_labelled_partial_run(emulator_url, tmp_path):
    spec = spec_for(emulator_url, tmp_path, clients=2, run_duration=4.0, shards=2)
    before = served(emulator_url)
    run = asyncio.ensure_future(sharded_load_test(spec, start_allowance=3.0))
    shard = tmp_path / spec.run_name / "shards" / "1"
    for _ in range(600):
        if (shard / "responses.jsonl").exists() and (shard / "responses.jsonl").stat().st_size > 0:
            break
        await asyncio.sleep(0.05)
    pid = orjson.loads((shard / "run_config.json").read_bytes())["pid"]
    os.kill(pid, signal.SIGKILL)
    summary = await run

    stats = orjson.loads((tmp_path / spec.run_name / "stats.json").read_bytes())
    reports = {r["index"]: r for r in stats["shard_reports"]}
    assert stats["partial"] is True and summary["partial"] is True
    assert reports[1]["status"] == "killed" and "ended abruptly" in reports[1]["reason"]
    assert "shard 1 killed" in stats["partial_reason"]
    assert reports[0]["status"] == "complete"
    shard0 = orjson.loads((tmp_path / spec.run_name / "shards" / "0" / "stats.json").read_bytes())
    assert shard0["interrupted"] is False and shard0["run_duration"] == 4.0  # ran its whole duration
    # every request the killed shard wrote is kept; what it had in flight or unflushed was
    # seen by the server but never recorded (the emulator served at least the merged count)
    assert reports[1]["total_requests"] > 0
    assert stats["total_requests"] == reports[0]["total_requests"] + reports[1]["total_requests"]
    assert served(emulator_url) - before >= stats["total_requests"]


CANCEL_SCRIPT = """
import asyncio, sys
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.sharded_run import sharded_load_test
from llmeter_core.spec import RunSpec
asyncio.run(sharded_load_test(RunSpec.model_validate_json(sys.argv[1]), start_allowance=3.0))
"""


async def test_a_cancel_of_the_parent_stops_every_shard_and_keeps_their_data(prefect_harness, emulator_url, tmp_path):
    """The parent's process gets SIGTERM (a Prefect cancel): every shard stops within a second
    or two, saves its partial folder, and the parent merges them before it ends."""
    spec = spec_for(emulator_url, tmp_path, clients=2, run_duration=60.0, shards=2)
    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PYTHONPATH": pythonpath()}
    log = (tmp_path / "flow.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", CANCEL_SCRIPT, spec.model_dump_json(by_alias=True)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    shards = [tmp_path / spec.run_name / "shards" / str(k) / "responses.jsonl" for k in (0, 1)]
    try:
        for _ in range(1200):
            if all(p.exists() and p.stat().st_size > 0 for p in shards):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        cancelled_at = datetime.now(timezone.utc)
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 60)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    output = (tmp_path / "flow.log").read_text()
    assert process.returncode == -signal.SIGTERM, output

    merged = Result.load(str(tmp_path / spec.run_name))
    assert merged.interrupted and merged.load_warnings == [], output
    reports = merged.stats["shard_reports"]
    assert [r["status"] for r in reports] == ["interrupted", "interrupted"], output
    for k, report in enumerate(reports):
        shard = Result.load(str(tmp_path / spec.run_name / "shards" / str(k)))
        assert shard.interrupted and shard.total_requests == report["total_requests"] > 0
        last_sent = max(r.request_time for r in shard.responses)
        assert (last_sent - cancelled_at).total_seconds() < 2.0
        with pytest.raises(ProcessLookupError):
            os.kill(report["pid"], 0)
    assert merged.total_requests == sum(r["total_requests"] for r in reports)
