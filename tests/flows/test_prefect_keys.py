"""Nothing the Prefect UI adds to parameters reaches an endpoint (issue 13, item 2).

The UI's "Use JSON Input" sends a section as ``{"__prefect_kind": "json", "value": "<json>"}``;
a marker inside that JSON text survives the server's hydration and, before the fix, was sent
in every request body (``payloads.extra.__prefect_kind``).
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
from pathlib import Path

from prefect.client.orchestration import get_client

from flows.params import SuiteSpec, SweepConfig, without_prefect_keys

REPO = Path(__file__).resolve().parents[2]

SERVE = """
import sys
from flows.sweep import load_test_sweep

if __name__ == "__main__":  # flow runs start in spawned processes that re-import __main__
    load_test_sweep.serve(name=sys.argv[1], print_starting_message=False)
"""


def test_markers_are_unwrapped_or_dropped_at_every_depth():
    raw = {
        "__prefect_kind": "none",
        "value": {
            "payloads": {"__prefect_kind": "json", "value": '{"prompts": ["hi"], "extra": {"__prefect_kind": "json"}}'},
            "endpoints": [{"__prefect": 1, "type": "openai-chat"}],
        },
    }
    assert without_prefect_keys(raw) == {
        "payloads": {"prompts": ["hi"], "extra": {}},
        "endpoints": [{"type": "openai-chat"}],
    }


def test_flow_parameter_models_strip_the_markers():
    endpoint = {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
    payloads = {"prompts": ["hi"], "extra": {"__prefect_kind": "json", "temperature": 0.5}}
    sweep = SweepConfig.model_validate({"endpoint": endpoint, "payloads": payloads, "load": {"n_requests": 1}})
    suite = SuiteSpec.model_validate({"endpoints": [endpoint], "payloads": payloads, "load": {"n_requests": 1}})
    assert sweep.payloads.extra == {"temperature": 0.5} == suite.payloads.extra


async def test_a_deployment_run_with_a_json_mode_parameter_sends_no_prefect_key(
    prefect_harness, emulator_url, tmp_path
):
    from prefect.deployments import run_deployment

    name = f"json-mode-{uuid.uuid4().hex[:6]}"
    script = tmp_path / "serve_it.py"
    script.write_text(SERVE)
    env = {
        **os.environ,
        "PREFECT_API_URL": prefect_harness,
        "PYTHONPATH": str(REPO),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
    }
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, str(script), name], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
    )
    sweep = {
        "name": name,
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": emulator_url},
        # What the UI sends after switching the payloads section to "Use JSON Input".
        "payloads": {
            "__prefect_kind": "json",
            "value": json.dumps(
                {"prompts": ["hello"], "max_tokens": 8, "extra": {"__prefect_kind": "json", "temperature": 0.5}}
            ),
        },
        "load": {"n_requests": 2},
        "clients": [1],
        "results": str(tmp_path),
    }
    try:
        async with get_client() as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    await client.read_deployment_by_name(f"load-test-sweep/{name}")
                    break
                except Exception:
                    assert time.monotonic() < deadline and server.poll() is None, (tmp_path / "serve.log").read_text()
                    await asyncio.sleep(0.3)
            flow_run = await run_deployment(f"load-test-sweep/{name}", parameters={"sweep": sweep}, timeout=0)
            deadline = time.monotonic() + 120
            while not (state := (await client.read_flow_run(flow_run.id)).state).is_final():
                assert time.monotonic() < deadline, f"{state}\n" + (tmp_path / "serve.log").read_text()
                await asyncio.sleep(0.3)
            assert state.is_completed(), f"{state}\n" + (tmp_path / "serve.log").read_text()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()

    (run_folder,) = tmp_path.glob(f"{name}/*/00001-clients")
    written = [p for p in run_folder.iterdir() if p.suffix in (".json", ".jsonl")]
    assert any(p.name == "responses.jsonl" for p in written)
    for path in written:
        assert "__prefect" not in path.read_text(), path
    first = json.loads((run_folder / "responses.jsonl").read_text().splitlines()[0])
    assert first["input_payload"]["temperature"] == 0.5
