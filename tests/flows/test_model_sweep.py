"""model_sweep and nightly_benchmark: several endpoints, one dated folder, a comparison."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from flows.model_sweep import model_sweep, server_groups
from flows.nightly import SUITES_DIR, nightly_benchmark, resolve_suite
from flows.params import SuiteSpec
from llmeter_core.errors import ConfigError

ENDPOINT = {"type": "openai-chat", "base_url": "http://127.0.0.1:9/v1"}


def _suite(emulator_url: str, results: str, **overrides) -> SuiteSpec:
    data = dict(
        name=f"suite-{uuid.uuid4().hex[:6]}",
        endpoints=[
            {"type": "openai-chat", "model": "small", "base_url": emulator_url},
            {"type": "openai-chat", "model": "large", "base_url": emulator_url},
        ],
        payloads={"prompts": ["hello", "write a poem"], "max_tokens": 12},
        load={"n_requests": 2, "timeout": 10},
        clients=[1, 2],
        results=results,
        live_interval=0.5,
    )
    data.update(overrides)
    return SuiteSpec(**data)


def test_models_behind_one_server_are_grouped_to_run_in_sequence():
    specs = SuiteSpec(
        endpoints=[
            {**ENDPOINT, "model": "a"},
            {"type": "openai-chat", "model": "b", "base_url": "http://127.0.0.1:10/v1"},
            {**ENDPOINT, "model": "c", "base_url": "http://127.0.0.1:9/v1/"},
            {"type": "bedrock-converse", "model": "m1", "region": "us-east-1"},
            {"type": "bedrock-converse", "model": "m2", "region": "us-east-1"},
        ],
        payloads={"prompts": ["x"]},
        load={"n_requests": 1},
    ).endpoints
    groups = [[e.model_id for e in group] for group in server_groups(specs)]
    assert groups == [["a", "c"], ["b"], ["m1"], ["m2"]]


@pytest.mark.usefixtures("prefect_harness")
async def test_model_sweep_compares_models_in_one_dated_folder(emulator_url, tmp_path):
    suite = _suite(emulator_url, str(tmp_path), concurrent=True)
    out = await model_sweep(suite)

    folder = Path(out["folder"])
    assert folder.parent == tmp_path / suite.name
    runs = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name != "charts")
    assert runs == ["large-00001-clients", "large-00002-clients", "small-00001-clients", "small-00002-clients"]
    for run in runs:
        assert json.loads((folder / run / "stats.json").read_text())["failed_requests"] == 0
    comparison = pd.read_parquet(out["parquet"])
    assert sorted(zip(comparison["endpoint"], comparison["clients"], strict=True)) == [
        ("large", 1),
        ("large", 2),
        ("small", 1),
        ("small", 2),
    ]
    assert pd.read_csv(folder / "small-sweep-summary.csv")["clients"].tolist() == [1, 2]
    assert (folder / "charts" / "comparison-ttft.png").exists() and (folder / "charts" / "small-ttft.png").exists()
    # One HTML report per summary: each endpoint's sweep and the comparison (one line per endpoint).
    assert out["html"] == str(folder / "comparison-report.html")
    assert sorted(p.name for p in folder.glob("*.html")) == [
        "comparison-report.html",
        "large-report.html",
        "small-report.html",
    ]
    comparison_page = (folder / "comparison-report.html").read_text()
    for name in ("small", "large"):  # a line per endpoint in the TTFT and the TTLT chart
        assert comparison_page.count(f'"name":"{name} p50"') == 2
    assert 'href="small-00002-clients/"' in comparison_page and 'href="large-00001-clients/"' in comparison_page
    small_page = (folder / "small-report.html").read_text()
    assert 'href="small-00001-clients/"' in small_page and "large-00001-clients" not in small_page

    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId

    async with get_client() as client:
        subflows = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[out["flow_run_id"]]))
        )
    assert sorted(r.name for r in subflows) == ["large: clients 1,2", "small: clients 1,2"]  # not random names
    await _assert_each_load_log_names_its_endpoint({r.id: r.name.split(":")[0] for r in subflows})

    key = f"{suite.name}-comparison-report"
    async with get_client() as client:
        (report,) = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])))
    summary = report.data.split("## Summary")[1].split("##")[0]
    assert summary.count("| small |") == 2 and summary.count("| large |") == 2 and "TTFT p50 (ms)" in summary


@pytest.mark.usefixtures("prefect_harness")
async def test_the_plan_is_checked_once_per_flow_entry(emulator_url, tmp_path, monkeypatch):
    """A model_sweep checks the whole suite once; its load_test_sweep subflows do not check
    their endpoint again (building every endpoint and reading every payload file twice)."""
    import flows.model_sweep
    import flows.params
    import flows.sweep

    checked = []
    original = flows.params.check_plan

    def counting(plan):
        checked.append(type(plan).__name__)
        return original(plan)

    for module in (flows.params, flows.model_sweep, flows.sweep):
        monkeypatch.setattr(module, "check_plan", counting, raising=False)
    suite = _suite(emulator_url, str(tmp_path), clients=[1])
    await model_sweep(suite)
    assert checked == ["SuiteSpec"]
    checked.clear()
    await flows.sweep.load_test_sweep(suite.sweep(suite.endpoints[0]))  # a flow entry of its own
    assert checked == ["SweepConfig"]


@pytest.mark.usefixtures("prefect_harness")
async def test_model_sweep_refuses_every_bad_endpoint_before_sending(emulator_url, tmp_path):
    suite = _suite(
        emulator_url,
        str(tmp_path),
        endpoints=[
            {"type": "openai-chat", "model": "a", "base_url": "ftp://nope"},
            {"type": "openai-chat", "model": "b", "base_url": emulator_url, "stream": True, "bogus": 1},
        ],
    )
    with pytest.raises(ConfigError) as caught:
        await model_sweep(suite)
    assert "endpoints[0].base_url" in str(caught.value) and "endpoints[1].bogus" in str(caught.value)
    assert not (tmp_path / suite.name).exists()


def test_suites_resolve_by_path_or_by_name(tmp_path):
    assert resolve_suite("demo") == SUITES_DIR / "demo.yaml"
    own = tmp_path / "mine.yaml"
    own.write_text("name: x\n")
    assert resolve_suite(str(own)) == own
    with pytest.raises(ConfigError, match="known: .*demo"):
        resolve_suite("no-such-suite")


@pytest.mark.usefixtures("prefect_harness")
async def test_nightly_benchmark_runs_a_suite_file_into_a_dated_folder(emulator_url, tmp_path, monkeypatch):
    monkeypatch.setenv("NIGHTLY_EMULATOR", emulator_url)
    path = tmp_path / "nightly.yaml"
    path.write_text(
        "name: nightly-test\n"
        "endpoints:\n  - {type: openai-chat, model: only, base_url: '${NIGHTLY_EMULATOR}'}\n"
        "payloads: {prompts: [hi, there], max_tokens: 8}\n"
        "load: {n_requests: 2}\n"
        "clients: [1, 3]\n"
        "live_interval: 0.5\n"
    )
    out = await nightly_benchmark(str(path), results=str(tmp_path / "results"))
    folder = Path(out["folder"])
    assert folder.parent == tmp_path / "results" / "nightly-test"
    assert folder.name[:4].isdigit() and folder.name.endswith("Z")
    assert pd.read_csv(out["csv"])["total_requests"].tolist() == [2, 6]


async def _assert_each_load_log_names_its_endpoint(endpoints: dict) -> None:
    """Every "load run" line of each sweep says which endpoint it is for."""
    import asyncio
    import time

    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    deadline = time.monotonic() + 20  # logs reach the server in batches
    while True:
        async with get_client() as client:
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=list(endpoints))))
        lines = [(log.flow_run_id, log.message) for log in logs if log.message.startswith("load run ")]
        if len(lines) >= 8 or time.monotonic() > deadline:  # 2 endpoints x 2 runs x start and end
            break
        await asyncio.sleep(0.5)
    assert len(lines) >= 8, lines
    for flow_run_id, message in lines:
        assert f"endpoint {endpoints[flow_run_id]}" in message, message
