"""nightly_benchmark end to end on moto S3: nights build the history, each night is compared
with the one before, a slowdown fails the flow run with the regression named, emits the
event and fills the nightly report; a night whose runs did not run fails too."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import fsspec
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.sorting import ArtifactSort
from prefect.events.filters import EventFilter, EventNameFilter, EventRelatedFilter

from flows.nightly import NightlyFailed, nightly_benchmark
from flows.regression import EVENT
from llmeter_core.history import read_history

pytestmark = pytest.mark.usefixtures("prefect_harness")


def write_suite(folder: Path, name: str, extra: str = "", base_url: str = "${LLMETER_EMULATOR_URL}") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        f"name: {name}\n"
        "endpoints:\n"
        f"  - {{type: openai-chat, model: model-a, base_url: '{base_url}'}}\n"
        "payloads: {prompts: [hello there, write a poem, count to ten], max_tokens: 10}\n"
        "load: {n_requests: 20, timeout: 10}\n"
        "clients: [1, 2]\n"
        "live_interval: 0.5\n"
        "emulator:\n"
        "  ttft_ms: {dist: lognormal, median: 40, sigma: 0.1}\n"
        "  itl_ms: 4\n"
        "  output_tokens: 10\n"
        "  latency_scale: ${NIGHT_SCALE:-1.0}\n" + extra
    )
    return path


async def night(suite: Path, results: str, monkeypatch, scale: float):
    monkeypatch.setenv("NIGHT_SCALE", str(scale))
    return await nightly_benchmark(str(suite), results, return_state=True)


async def artifacts_of(flow_run_id) -> list:
    """The flow run's own artifacts, oldest first."""
    async with get_client() as client:
        newest_first = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])),
            sort=ArtifactSort.CREATED_DESC,
        )
    return list(reversed(newest_first))


async def regression_events(flow_run_id) -> list:
    """The events a flow run emitted, read back through the Prefect client (they are sent
    in the background: poll for a few seconds)."""
    wanted = EventFilter(
        event=EventNameFilter(name=[EVENT]), related=EventRelatedFilter(id=[f"prefect.flow-run.{flow_run_id}"])
    )
    async with get_client() as client:
        for _ in range(40):
            page = await client.read_events(filter=wanted, limit=50)
            if page.events:
                return page.events
            await asyncio.sleep(0.5)
    return []


async def test_three_nights_on_s3_the_third_regresses_fails_the_run_and_emits_the_event(
    tmp_path, s3_results, monkeypatch
):
    name = f"nightly-{uuid.uuid4().hex[:6]}"
    suite = write_suite(tmp_path, name)
    results = f"{s3_results}/llmeter"

    first = await night(suite, results, monkeypatch, 1.0)
    assert first.is_completed(), first.message
    out1 = await first.aresult()
    assert "no baseline yet" in out1["verdict"]
    second = await night(suite, results, monkeypatch, 1.0)
    assert second.is_completed(), second.message
    out2 = await second.aresult()
    assert [v for _, _, v in out2["points"]] != ["regressed", "regressed"]

    third = await night(suite, results, monkeypatch, 1.3)
    assert third.is_failed()
    assert "regression" in third.message and "model-a" in third.message and "TTFT p50" in third.message
    with pytest.raises(NightlyFailed) as caught:
        await third.aresult()
    verdict = caught.value.verdict
    night3 = verdict.folder

    # History: 2 rows a night, three nights, on S3, read directly by pandas too.
    history = read_history(f"{results}/{name}")
    assert len(history) == 6 and history["run_url"].str.startswith(f"{results}/{name}/").all()
    assert history["config_hash"].nunique() == 2  # one per load point, the same every night
    assert sorted({u.rsplit("/", 1)[0] for u in history["run_url"]}) == sorted({out1["folder"], out2["folder"], night3})
    import pandas as pd

    assert len(pd.read_parquet(f"{results}/{name}/history")) == 6

    # The third night was compared with the second, load point by load point.
    night2_runs = {r["clients"]: r["run_url"] for r in out2["runs"]}
    for point in verdict.points:
        assert point.status == "compared"
        assert point.baseline.urls == [night2_runs[point.clients]]
        assert point.comparison.candidate_url.startswith(night3)
    assert verdict.regressed, [p.verdict for p in verdict.points]

    # The event: endpoint, metric, change and both run URLs in its payload.
    events = await regression_events(third.state_details.flow_run_id)
    assert events, "no llmeter.regression.detected event"
    payloads = {e.payload["candidate_run_url"]: e.payload for e in events}
    regressed = {p.comparison.candidate_url: p for p in verdict.regressed}
    assert set(payloads) == set(regressed)
    for url, payload in payloads.items():
        assert payload["endpoint"] == "model-a" and payload["suite"] == name
        assert payload["metric"] in {m.metric for m in regressed[url].comparison.regressions}
        assert payload["change"] > 0.1 and payload["load_point"] == regressed[url].point
        assert payload["baseline_run_urls"] == regressed[url].comparison.baseline_urls
        assert payload["summary"].startswith(f"{name}: model-a at ")
    assert events[0].resource.id == f"llmeter.endpoint.{name}.model-a"

    # The nightly report: the run's first artifact, verdict on top, tables, trend charts.
    artifacts = await artifacts_of(third.state_details.flow_run_id)
    assert artifacts[0].key == f"{name}-nightly-report"
    report = artifacts[0].data
    assert report.startswith(f"# Nightly report: {name}: REGRESSED")
    assert third.message in report
    assert report.count("data:image/png;base64,") == 1
    assert "| TTFT p50 |" in report and night2_runs[2] in report
    fs, _ = fsspec.core.url_to_fs(night3)
    assert fs.cat(f"{night3}/charts/nightly-trend-model-a.png").startswith(b"\x89PNG")

    # The nightly's HTML report, beside the night's runs, linked from the artifact.
    html_url = f"{night3}/nightly-report.html"
    assert f"**Shareable report** (one HTML file, opens offline): [{html_url}](" in report
    page = fs.cat(html_url).decode()
    assert page.startswith("<!DOCTYPE html>") and f"Nightly report: {name}: REGRESSED" in page
    assert 'id="chart-model-a-change" class="plotly-graph-div"' in page and "data:image/png;base64," in page
    for point in verdict.points:
        assert f'href="{point.run_url.removeprefix(night3 + "/")}/"' in page
    assert 'href="model-a-report.html"' in page and 'href="comparison-report.html"' in page


async def test_a_pinned_baseline_with_warn_completes_and_still_emits(tmp_path, monkeypatch):
    name = f"pinned-{uuid.uuid4().hex[:6]}"
    results = str(tmp_path / "results")
    base = await night(write_suite(tmp_path, name), results, monkeypatch, 1.0)
    folder = (await base.aresult())["folder"]
    suite = write_suite(tmp_path, name, extra=f"baseline: {folder}\non_regression: warn\n")

    slower = await night(suite, results, monkeypatch, 1.3)
    assert slower.is_completed(), slower.message
    out = await slower.aresult()
    assert {v for _, _, v in out["points"]} == {"regressed"}
    assert await regression_events(slower.state_details.flow_run_id)
    report = (await artifacts_of(slower.state_details.flow_run_id))[0].data
    assert "REGRESSED (warning only" in report and f"pinned: {folder}" in report


async def test_a_night_whose_runs_fail_entirely_is_a_failure_not_unchanged(tmp_path, monkeypatch):
    name = f"down-{uuid.uuid4().hex[:6]}"
    suite = write_suite(tmp_path, name, base_url="http://127.0.0.1:9/v1")  # nothing listens there
    state = await night(suite, str(tmp_path / "results"), monkeypatch, 1.0)
    assert state.is_failed()
    assert "did not run" in state.message and "every request failed" in state.message
    report = (await artifacts_of(state.state_details.flow_run_id))[0].data
    assert report.startswith(f"# Nightly report: {name}: FAILED") and "🔴 did not run" in report


async def test_bad_nightly_options_fail_before_any_request(tmp_path, monkeypatch):
    suite = write_suite(tmp_path, "bad", extra="baseline: {last: 0}\nregression: {threshold: {ttft: 0.1}}\n")
    with pytest.raises(Exception) as caught:
        await nightly_benchmark(str(suite), str(tmp_path / "results"))
    assert "baseline" in str(caught.value) and "regression.threshold" in str(caught.value)
    assert not (tmp_path / "results").exists()
    missing = write_suite(tmp_path, "missing", extra=f"baseline: {tmp_path / 'nowhere'}\n")
    with pytest.raises(Exception, match="no such folder"):
        await nightly_benchmark(str(missing), str(tmp_path / "results"))
    assert not (tmp_path / "results").exists()


def test_the_nightly_command_exits_0_then_1_on_a_slowdown(tmp_path, monkeypatch, prefect_harness):
    from typer.testing import CliRunner

    from flows.cli import app

    monkeypatch.setenv("PREFECT_API_URL", prefect_harness)
    name = f"cli-{uuid.uuid4().hex[:6]}"
    suite, results = write_suite(tmp_path, name), str(tmp_path / "results")
    first = CliRunner().invoke(app, ["nightly", str(suite), "--results", results])
    assert first.exit_code == 0, first.output
    assert "verdict: no baseline yet" in first.output and f"results: {results}/{name}/" in first.output.replace(
        "\n", ""
    )
    monkeypatch.setenv("NIGHT_SCALE", "1.4")
    slower = CliRunner().invoke(app, ["nightly", str(suite), "--results", results])
    assert slower.exit_code == 1, slower.output
    assert "nightly failed" in slower.output and "regression" in slower.output and "/v2/runs/flow-run/" in slower.output
    assert CliRunner().invoke(app, ["nightly", str(tmp_path / "nope.yaml")]).exit_code == 2
