"""An open-loop load as a user starts it from a deployment: ``rates`` and ``load: {arrival,
run_duration}`` in the run's parameters (Prefect checks them against the flow's schema, in
which a sweep's load has no ``rate``: the form offers ``rates``), the flow in its own served
process."""

from __future__ import annotations

import json
import uuid

from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from .serving import served


async def test_a_rate_from_deployment_parameters_runs_open_loop_with_its_verdict(
    prefect_harness, emulator_url, tmp_path
):
    from prefect.deployments import run_deployment

    name = f"rate-{uuid.uuid4().hex[:6]}"
    parameters = {
        "sweep": {
            "name": name,
            "endpoint": {"type": "openai-chat", "model": "m", "base_url": emulator_url},
            "payloads": {"prompts": ["hello"], "max_tokens": 4},
            "load": {"arrival": "poisson", "run_duration": 2, "timeout": 10},
            "rates": [20],
            "results": str(tmp_path),
            "live_interval": 0.5,
        }
    }
    async with served("flows.sweep", "load_test_sweep", name, prefect_harness, tmp_path) as log:
        flow_run = await run_deployment(f"load-test-sweep/{name}", parameters=parameters, timeout=120)
        assert flow_run.state is not None and flow_run.state.is_completed(), log.read_text()
        async with get_client() as client:
            artifacts = await client.read_artifacts(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run.id]))
            )
    (stats_path,) = tmp_path.glob(f"{name}/*/rate-00020/stats.json")
    stats = json.loads(stats_path.read_text())
    config = json.loads((stats_path.parent / "run_config.json").read_text())
    assert config["load_mode"] == "rate" and config["arrival"] == "poisson"
    assert stats["offered_rate"] == 20.0 and stats["total_requests"] > 10 and stats["failed_requests"] == 0
    assert stats["dispatch_delay-p99"] is not None and isinstance(stats["client_bound"], bool)
    # the run's live metrics artifact carries the generator's rows (dispatch delay, verdict)
    assert any("dispatch delay" in str(a.data) for a in artifacts), [a.key for a in artifacts]


async def test_a_sharded_rate_from_a_deployment_gives_one_merged_run_folder(prefect_harness, tmp_path):
    """``load: {rate, shards: 2, run_duration}`` as a deployment run's parameters (the issue's
    example, scaled to this test): two shard processes, one merged run folder that loads like
    any other, every request the emulator saw recorded once."""
    from prefect.deployments import run_deployment

    from llmeter_core.emulator import EmulatorThread
    from llmeter_core.results import Result

    name = f"shards-{uuid.uuid4().hex[:6]}"
    with EmulatorThread("openai", ttft_ms=5, itl_ms=1, output_tokens=2) as emu:
        parameters = {
            "sweep": {
                "name": name,
                "endpoint": {"type": "openai-chat", "model": "m", "base_url": f"{emu.url}/v1"},
                "payloads": {"prompts": ["hello"], "max_tokens": 4},
                "load": {"shards": 2, "run_duration": 2, "timeout": 10},
                "rates": [100],
                "results": str(tmp_path),
                "live_interval": 0.5,
            }
        }
        async with served("flows.sweep", "load_test_sweep", name, prefect_harness, tmp_path) as log:
            flow_run = await run_deployment(f"load-test-sweep/{name}", parameters=parameters, timeout=240)
            assert flow_run.state is not None and flow_run.state.is_completed(), log.read_text()
        served_requests = emu.stats()["requests"]
    (stats_path,) = tmp_path.glob(f"{name}/*/rate-00100/stats.json")
    stats = json.loads(stats_path.read_text())
    assert stats["shards"] == 2 and stats["partial"] is False
    assert sorted(p.name for p in (stats_path.parent / "shards").iterdir()) == ["0", "1"]
    loaded = Result.load(str(stats_path.parent))
    assert loaded.load_warnings == [] and len(loaded.responses) == stats["total_requests"] == served_requests
    assert stats["total_requests"] + stats["unsent_requests"] == 200  # 100 req/s for 2 s, dealt to 2 shards
    assert stats["offered_rate"] == 100.0
