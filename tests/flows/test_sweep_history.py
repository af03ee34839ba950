"""Every run of a sweep or model sweep adds its row to ``<results>/<suite>/history/``."""

from __future__ import annotations

import uuid

import pytest

from flows.model_sweep import model_sweep
from flows.params import SuiteSpec
from llmeter_core.history import read_history

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def test_a_model_sweep_on_s3_writes_one_history_row_per_run(emulator_url, s3_results):
    name = f"hist-{uuid.uuid4().hex[:6]}"
    suite = SuiteSpec(
        name=name,
        endpoints=[
            {"type": "openai-chat", "model": "model-a", "base_url": emulator_url},
            {"type": "openai-chat", "model": "model-b", "base_url": emulator_url},
        ],
        payloads={"prompts": ["hello there"], "max_tokens": 8},
        load={"n_requests": 2, "timeout": 10},
        clients=[1, 2],
        results=s3_results,
        live_interval=0.5,
    )
    out = await model_sweep(suite)
    history = read_history(f"{s3_results}/{name}")
    assert sorted(history["run_url"]) == sorted(r["run_url"] for r in out["runs"])
    assert set(history["suite"]) == {name}
    assert sorted(zip(history["endpoint"], history["clients"], strict=True)) == [
        ("model-a", 1),
        ("model-a", 2),
        ("model-b", 1),
        ("model-b", 2),
    ]
    assert (history["total_requests"] == 2 * history["clients"]).all()
    assert history["flow_run_id"].notna().all() and history["config_hash"].str.len().eq(16).all()
