"""Shards on a work pool: a local process work pool, a real ``prefect worker start`` on it, and
the ``load-shard`` deployment, all on the session test server. The parent starts one flow run
per shard with run_deployment; the worker runs each in its own process; the parent merges."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import orjson
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import WorkPoolCreate

from flows.load_shard import load_shard
from flows.sharded_run import sharded_load_test
from llmeter_core.errors import ConfigError
from llmeter_core.results import Result
from llmeter_core.spec import parse_spec
from tests.processes import pythonpath

REPO = Path(__file__).resolve().parents[2]


def spec_for(base_url: str, tmp_path: Path, pool: str):
    return parse_spec(
        {
            "run_name": f"pooled-{uuid.uuid4().hex[:6]}",
            "output": str(tmp_path),
            "endpoint": {"type": "openai-chat", "model": "m", "base_url": base_url},
            "payloads": {"prompts": ["hello there"], "max_tokens": 12},
            "load": {"rate": 20.0, "n_requests": 30, "timeout": 10, "shards": 2, "shard_pool": pool},
            "plots": False,
        }
    )


async def test_a_pool_without_a_load_shard_deployment_is_refused_before_anything_is_written(
    prefect_harness, emulator_url, tmp_path
):
    spec = spec_for(emulator_url, tmp_path, f"nowhere-{uuid.uuid4().hex[:6]}")
    with pytest.raises(ConfigError) as caught:
        await sharded_load_test(spec)
    assert caught.value.field == "load.shard_pool" and "load-shard deployment" in str(caught.value)
    assert not (tmp_path / spec.run_name).exists()


async def test_shards_run_as_flow_runs_on_a_process_work_pool(prefect_harness, emulator_url, tmp_path):
    pool = f"shards-{uuid.uuid4().hex[:6]}"
    async with get_client() as client:
        await client.create_work_pool(WorkPoolCreate(name=pool, type="process"))
    deployment = await load_shard.to_deployment(
        name="load-shard", work_pool_name=pool, job_variables={"working_dir": str(REPO)}
    )
    deployment.entrypoint = "flows/load_shard.py:load_shard"  # as in deployments/prefect.yaml
    await deployment.apply()
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_harness,
        "PREFECT_WORKER_QUERY_SECONDS": "1",
        "PYTHONPATH": pythonpath(),
    }
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen(
        [sys.executable, "-m", "prefect", "worker", "start", "--pool", pool, "--type", "process"],
        env=env,
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        spec = spec_for(emulator_url, tmp_path, pool)
        before = httpx.get(emulator_url.removesuffix("/v1") + "/emulator/stats").json()["requests"]
        summary = await sharded_load_test(spec, start_allowance=10.0)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
        log.close()
    output = (tmp_path / "worker.log").read_text()
    after = httpx.get(emulator_url.removesuffix("/v1") + "/emulator/stats").json()["requests"]
    stats = orjson.loads((tmp_path / spec.run_name / "stats.json").read_bytes())
    assert [r["status"] for r in stats["shard_reports"]] == ["complete", "complete"], (stats["partial_reason"], output)
    assert stats["total_requests"] == after - before == 30 == summary["total_requests"]
    assert sorted(r["total_requests"] for r in stats["shard_reports"]) == [15, 15]
    assert os.getpid() not in {r["pid"] for r in stats["shard_reports"]}
    assert Result.load(str(tmp_path / spec.run_name)).load_warnings == []
    async with get_client() as client:
        runs = await client.read_flow_runs()
    shard_runs = [r for r in runs if r.name.startswith(f"{spec.run_name}-shard-")]
    assert len(shard_runs) == 2 and all(r.state is not None and r.state.is_completed() for r in shard_runs)
    assert all(r.parent_task_run_id is not None for r in shard_runs)  # subflows of the parent, in the UI
