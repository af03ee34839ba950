"""Nothing the Prefect UI adds to parameters reaches an endpoint (issue 13, item 2).

The UI's "Use JSON Input" sends a section as ``{"__prefect_kind": "json", "value": "<json>"}``;
a marker inside that JSON text survives the server's hydration and, before the fix, was sent
in every request body (``payloads.extra.__prefect_kind``).
"""

from __future__ import annotations

import json
import uuid

from flows.params import SuiteSpec, SweepConfig, without_prefect_keys

from .serving import served


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
    async with served("flows.sweep", "load_test_sweep", name, prefect_harness, tmp_path) as log:
        flow_run = await run_deployment(f"load-test-sweep/{name}", parameters={"sweep": sweep}, timeout=120)
        assert flow_run.state is not None and flow_run.state.is_completed(), f"{flow_run.state}\n" + log.read_text()

    (run_folder,) = tmp_path.glob(f"{name}/*/00001-clients")
    written = [p for p in run_folder.iterdir() if p.suffix in (".json", ".jsonl")]
    assert any(p.name == "responses.jsonl" for p in written)
    for path in written:
        assert "__prefect" not in path.read_text(), path
    first = json.loads((run_folder / "responses.jsonl").read_text().splitlines()[0])
    assert first["input_payload"]["temperature"] == 0.5
