"""The shipped nightly deployment runs as shipped: its parameters, the demo suite and the
emulator that suite starts for itself; nothing else is started by the test."""

from __future__ import annotations

import pandas as pd
import pytest

from flows.deployments import load_deployment_entries, load_entrypoint

pytestmark = pytest.mark.usefixtures("prefect_harness")


async def test_the_nightly_deployment_runs_with_its_own_parameters(tmp_path, monkeypatch):
    (entry,) = [e for e in load_deployment_entries() if e["name"] == "nightly-benchmark"]
    flow = load_entrypoint(entry["entrypoint"])
    monkeypatch.setenv("LLMETER_RESULTS", str(tmp_path))  # where a worker's environment would point it
    monkeypatch.delenv("LLMETER_EMULATOR_URL", raising=False)

    state = await flow(**entry["parameters"], return_state=True)
    assert state.is_completed(), state.message
    result = await state.aresult()
    assert "no baseline yet" in result["verdict"]
    assert {(r["endpoint"], r["clients"]) for r in result["runs"]} == {
        (model, clients) for model in ("emulator-small", "emulator-large") for clients in (1, 2, 4, 8)
    }
    assert all(r["stats"]["failed_requests"] == 0 and r["total_requests"] == 10 * r["clients"] for r in result["runs"])
    history = pd.read_parquet(tmp_path / "demo" / "history")
    assert len(history) == 8 and set(history["suite"]) == {"demo"}
