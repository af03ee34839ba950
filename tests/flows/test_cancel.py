"""A cancel from Prefect (SIGTERM to the flow run's process) mid-sweep.

The flow runs in a subprocess exactly as Prefect's engine runs a deployment's flow run
(``asyncio.run`` of the flow in the main thread, Prefect's SIGTERM bridge installed), against
the session test server. It must stop sending within a second, save the partial run as
interrupted, skip the remaining client counts and still end the process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from llmeter_core.results import Result
from tests.processes import pythonpath

from .serving import served

SCRIPT = """
import asyncio, sys
from flows.params import SweepConfig
from flows.sweep import load_test_sweep
asyncio.run(load_test_sweep(SweepConfig.model_validate_json(sys.argv[1])))
"""


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def test_sigterm_mid_run_keeps_a_valid_partial_run_and_ends_the_process(prefect_harness, emulator_url, tmp_path):
    name = f"cancel-{uuid.uuid4().hex[:6]}"
    config = {
        "name": name,
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": emulator_url},
        "payloads": {"prompts": ["hello"], "max_tokens": 12},
        "load": {"run_duration": 60, "timeout": 10},
        "clients": [3, 6],
        "results": str(tmp_path),
        "live_interval": 0.5,
    }
    env = {**os.environ, "PREFECT_API_URL": prefect_harness, "PYTHONPATH": pythonpath()}
    log = (tmp_path / "flow.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, json.dumps(config)], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    try:
        responses = lambda: next(iter(tmp_path.glob(f"{name}/*/00003-clients/responses.jsonl")), tmp_path / "none")  # noqa: E731
        assert _wait(lambda: _lines(responses()) >= 30, timeout=60), (tmp_path / "flow.log").read_text()
        killed_at = datetime.now(timezone.utc)
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    output = (tmp_path / "flow.log").read_text()

    run_folder = responses().parent
    result = Result.load(str(run_folder))
    assert result.interrupted, output
    assert result.stats["interrupted"] is True
    assert result.total_requests >= 30
    last_sent = max(r.request_time for r in result.responses)
    assert (last_sent - killed_at).total_seconds() < 1.0
    assert not (run_folder.parent / "00006-clients").exists()  # the sweep stopped there
    assert process.returncode == -signal.SIGTERM, output  # the cancel still ends the process (Prefect's own handler)

    key = f"{name}-00003-clients-metrics"
    async with get_client() as client:
        (metrics,) = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    assert "interrupted, partial run saved" in metrics.description
    assert json.loads(metrics.data)[0]["p50"] > 0


async def test_cancelling_a_served_deployment_run_saves_the_partial_run_and_ends_cancelled(
    prefect_harness, emulator_url, tmp_path
):
    """The real path: flow.serve runs the flow in a child process; a cancel through the API
    makes the runner SIGTERM it."""
    from prefect.deployments import run_deployment
    from prefect.states import Cancelling

    name = f"served-{uuid.uuid4().hex[:6]}"
    parameters = {
        "sweep": {
            "name": name,
            "endpoint": {"type": "openai-chat", "model": "m", "base_url": emulator_url},
            "payloads": {"prompts": ["hello"], "max_tokens": 12},
            "load": {"run_duration": 60, "timeout": 10},
            "clients": [3, 6],
            "results": str(tmp_path),
            "live_interval": 0.5,
        }
    }
    async with served("flows.sweep", "load_test_sweep", name, prefect_harness, tmp_path) as log, get_client() as client:
        flow_run = await run_deployment(f"load-test-sweep/{name}", parameters=parameters, timeout=0)
        responses = lambda: next(iter(tmp_path.glob(f"{name}/*/00003-clients/responses.jsonl")), tmp_path / "none")  # noqa: E731
        deadline = time.monotonic() + 60
        while _lines(responses()) < 30:
            assert time.monotonic() < deadline, log.read_text()
            await asyncio.sleep(0.2)
        cancelled_at = datetime.now(timezone.utc)
        await client.set_flow_run_state(flow_run.id, Cancelling(), force=True)
        deadline = time.monotonic() + 45
        while not (state := (await client.read_flow_run(flow_run.id)).state).is_cancelled():
            assert time.monotonic() < deadline, f"{state}\n" + log.read_text()
            await asyncio.sleep(0.3)

    result = Result.load(str(responses().parent))
    assert result.interrupted and result.stats["interrupted"] is True
    last_sent = max(r.request_time for r in result.responses)
    assert (last_sent - cancelled_at).total_seconds() < 2.0  # the runner noticing the cancel + under 1 s to stop
    assert not (responses().parent.parent / "00006-clients").exists()
