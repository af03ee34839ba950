"""capacity_search end to end: through the flow on moto S3, and through `llmeter-flows capacity`
on a suite file, against the emulator's capacity model."""

from __future__ import annotations

import json
import re
import uuid

import fsspec
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from typer.testing import CliRunner

from flows.capacity import capacity_search
from flows.cli import app
from flows.params import SuiteSpec
from llmeter_core.emulator import EmulatorThread

runner = CliRunner()


@pytest.fixture(scope="module")
def slots_emulator():
    """4 requests served at once, 60 ms each (about 66 req/s): the capacity model."""
    with EmulatorThread("openai", ttft_ms=50, itl_ms=5, output_tokens=3, max_concurrency=4) as emu:
        yield f"{emu.url}/v1"


def _suite(url: str, results: str, **overrides) -> SuiteSpec:
    data = dict(
        name=f"cap-{uuid.uuid4().hex[:6]}",
        endpoints=[{"type": "openai-chat", "model": "emulator-model", "base_url": url, "stream": True}],
        payloads={"prompts": ["hello there"], "max_tokens": 3},
        load={"run_duration": 1.0, "timeout": 10, "grace_period": 3},
        slo={"ttft_ms": 2000, "percentile": 90},
        # short probes on a shared machine: a few late sends must not read as saturation
        capacity={"start": 4, "max_load": 16, "stop_on_client_bound": False, "min_achieved_ratio": 0.5},
        results=results,
        live_interval=0.5,
    )
    data.update(overrides)
    return SuiteSpec(**data)


async def test_flow_on_s3_writes_probes_capacity_json_charts_and_one_report(
    prefect_harness, slots_emulator, s3_results
):
    suite = _suite(slots_emulator, f"{s3_results}/llmeter")
    out = await capacity_search(suite)

    (search,) = out["searches"]
    assert search["status"] == "at_least", [(p["load"], p["reason"]) for p in search["probes"]]
    assert search["capacity"] == 16 and search["answer"] == "at least 16 req/s"
    assert search["bracket"] == {"highest_pass": 16, "lowest_fail": None}
    assert [p["load"] for p in search["probes"]] == [4, 8, 16]
    fs, root = fsspec.core.url_to_fs(search["folder"])
    assert search["folder"].startswith(f"{s3_results}/llmeter/{suite.name}/")
    saved = json.loads(fs.cat(f"{root}/capacity.json"))
    assert saved["capacity"] == 16 and saved["slo"]["ttft_ms"] == 2000 and len(saved["probes"]) == 3
    for probe in saved["probes"]:
        assert probe["run_folder"].startswith(search["folder"] + "/probe-")
        stats = json.loads(fs.cat(probe["run_folder"].split("://", 1)[1] + "/stats.json"))
        assert stats["slo_passed"] is True and stats["slo_attainment"] == probe["attainment"]
        assert probe["offered_rate"] == pytest.approx(probe["load"], rel=0.01)
        assert probe["metrics"]["slo_observed_ttft_ms"] > 0
    names = {p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/charts", refresh=True)}
    assert names == {"slo-metric.png", "goodput.png"}

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(out["flow_run_id"])]))
        )
    (report,) = [a for a in artifacts if a.key and a.key.endswith("capacity-report")]
    lines = report.data.splitlines()
    assert lines[0] == f"# Capacity search {suite.name}"
    html_url = f"{out['folder']}/capacity-report.html"
    assert out["html"] == html_url and lines[2].startswith(
        f"**Shareable report** (one HTML file, opens offline): [{html_url}]("
    )
    assert lines[4].startswith("**emulator-model: capacity at least 16 req/s at ttft p90 <= 2000 ms")
    assert "| probe | load |" in report.data and "data:image/png;base64," in report.data
    by_id = sorted(artifacts, key=lambda a: str(a.id), reverse=True)  # the v2 page's order: the report first
    assert by_id[0].key == report.key

    # The HTML report: verdict, probe table with relative links to each probe, both charts, configuration.
    page = fs.cat(html_url).decode()
    assert page.startswith("<!DOCTYPE html>") and not re.search(r"<script[^>]*\ssrc\s*=", page)
    assert "emulator-model: capacity at least 16 req/s" in page
    for chart in ("slo-metric", "goodput"):
        assert f'id="chart-emulator-model-{chart}" class="plotly-graph-div"' in page
    for probe in saved["probes"]:
        relative = probe["run_folder"].removeprefix(out["folder"] + "/")
        assert relative.startswith("emulator-model/probe-") and f'href="{relative}/"' in page
    assert page.count("run_config.json</summary>") == 3 and "&quot;ttft_ms&quot;: 2000" in page


async def test_a_first_probe_that_fails_reports_below_and_no_made_up_number(prefect_harness, slots_emulator, tmp_path):
    suite = _suite(
        slots_emulator,
        str(tmp_path),
        slo={"ttft_ms": 1},
        capacity={"start": 4, "max_load": 64, "stop_on_client_bound": False},
    )
    out = await capacity_search(suite)
    (search,) = out["searches"]
    assert search["status"] == "below" and search["capacity"] is None and search["answer"] == "below 4 req/s"
    assert len(search["probes"]) == 1 and "ttft_ms: p90" in search["probes"][0]["reason"]


@pytest.fixture
def harness_api(prefect_harness, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_harness)
    return prefect_harness


def test_cli_runs_a_client_search_from_a_suite_file(harness_api, slots_emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("CAP_EMULATOR", slots_emulator)
    suite = tmp_path / "cap.yaml"
    suite.write_text(
        "name: cli-capacity\n"
        "endpoints: [{type: openai-chat, model: emulator-model, base_url: '${CAP_EMULATOR}', stream: true}]\n"
        "payloads: {prompts: ['hello there'], max_tokens: 3}\n"
        "load: {run_duration: 0.8, timeout: 10}\n"
        "slo: {ttft_ms: 80, percentile: 90}\n"
        "search: clients\n"
        "capacity: {start: 2, max_load: 16, stop_on_client_bound: false}\n"
    )
    result = runner.invoke(app, ["capacity", str(suite), "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "emulator-model: capacity " in result.output and "clients" in result.output
    (saved,) = (tmp_path / "out" / "cli-capacity").glob("*/emulator-model/capacity.json")
    html = saved.parent.parent / "capacity-report.html"
    assert f"report:  {html}" in result.output.replace("\n", "") and html.read_text().startswith("<!DOCTYPE html>")
    found = json.loads(saved.read_text())
    assert found["mode"] == "clients" and all(float(p["load"]).is_integer() for p in found["probes"])
    assert found["status"] in ("found", "below", "at_least", "budget")
    if found["status"] == "found":  # 4 slots: more clients queue, and 80 ms leaves 30 ms for it
        assert found["bracket"]["highest_pass"] < found["bracket"]["lowest_fail"]


def test_cli_refuses_a_suite_without_an_slo_before_any_request(tmp_path):
    suite = tmp_path / "cap.yaml"
    suite.write_text(
        "name: no-slo\n"
        "endpoints: [{type: openai-chat, model: m, base_url: 'http://127.0.0.1:9/v1'}]\n"
        "payloads: {prompts: ['hi']}\n"
        "load: {run_duration: 1}\n"
        "capacity: {start: 50, max_load: 10}\n"
    )
    result = runner.invoke(app, ["capacity", str(suite)])
    assert result.exit_code == 2, result.output
    assert "slo: a capacity search needs an slo: block" in result.output
    assert "capacity.start: 50 is above capacity.max_load (10)" in result.output
