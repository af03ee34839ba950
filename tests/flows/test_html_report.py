"""The shareable HTML report (issue 13, item 9): one self-contained file beside each sweep's
summary (local and on moto S3), a capacity search's and a model comparison's, with the
table of the summary, plotly charts, relative links to the runs, the run configuration and
no secret; the report artifact links it."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import fsspec
import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from flows.params import SweepConfig
from flows.sweep import load_test_sweep
from llmeter_core.sweep_html import format_cell
from llmeter_core.units import display_value

pytestmark = pytest.mark.usefixtures("prefect_harness")

API_KEY = "sk-html-report-secret-0001"
HEADER_VALUE = "hdr-html-report-secret-0002"
#: Written straight into the parameters (so it is in the flow run's): still never in the file.
LITERAL_HEADER = "lit-html-report-secret-0003"
#: A <script> with a src, or a stylesheet link: anything the page would fetch.
EXTERNAL = re.compile(r"<script[^>]*\ssrc\s*=|<link[^>]*\shref\s*=", re.IGNORECASE)


def _config(emulator_url: str, results: str, **endpoint) -> SweepConfig:
    return SweepConfig(
        name=f"html-{uuid.uuid4().hex[:6]}",
        endpoint={"type": "openai-chat", "model": "emulator-model", "base_url": emulator_url, **endpoint},
        payloads={"prompts": ["hello there", "count to ten"], "max_tokens": 8},
        load={"n_requests": 2, "timeout": 10},
        clients=[1, 2],
        results=results,
        live_interval=0.5,
    )


async def _report_artifact(flow_run_id: str, key: str) -> str:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
        )
    (report,) = [a for a in found if a.key == key]
    return str(report.data)


def _check_page(page: str, frame: pd.DataFrame) -> None:
    """Self-contained, charts present, the summary's numbers in the table, runs linked relatively."""
    assert page.startswith("<!DOCTYPE html>") and "Plotly.newPlot" in page
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert len(page) > 1_000_000  # plotly.js itself is inside
    for chart in ("ttft", "ttlt", "throughput", "output-tps", "error-rate"):
        assert f'id="chart-{chart}" class="plotly-graph-div"' in page
    assert "<th>TTFT p50 (ms)</th>" in page and "<th>Throughput (req/s)</th>" in page
    for _, row in frame.iterrows():
        for key in ("time_to_first_token-p50", "time_to_last_token-p90", "output_tps"):
            assert f"<td>{format_cell(display_value(key, float(row[key])))}</td>" in page
        name = row["run_name"]
        assert f'href="{name}/"' in page and f'href="{name}/stats.json"' in page
    assert page.count("run_config.json</summary>") == len(frame)


async def test_a_local_sweep_writes_report_html_beside_its_summary_without_secrets(emulator_url, tmp_path, monkeypatch):
    monkeypatch.setenv("HTML_TEST_KEY", API_KEY)
    monkeypatch.setenv("HTML_TEST_HEADER", HEADER_VALUE)
    config = _config(
        emulator_url,
        str(tmp_path),
        api_key_env="HTML_TEST_KEY",
        headers={"x-team-token": "${HTML_TEST_HEADER}", "x-literal-key": LITERAL_HEADER},
    )
    out = await load_test_sweep(config)

    folder = Path(out["folder"])
    assert out["html"] == str(folder / "report.html")
    assert (folder / "sweep-summary.csv").exists()
    page = (folder / "report.html").read_text()
    frame = pd.read_csv(out["csv"])
    _check_page(page, frame)
    assert API_KEY not in page and HEADER_VALUE not in page and LITERAL_HEADER not in page
    assert "HTML_TEST_KEY" in page and "x-team-token" in page and "x-literal-key" in page  # names, not values
    for name in frame["run_name"]:  # the relative links lead to the run folders
        assert (folder / name / "stats.json").exists()
    assert f"Sweep {config.name}" in page and "emulator-model" in page

    report = await _report_artifact(out["flow_run_id"], f"{config.name}-report")
    assert f"**Shareable report** (one HTML file, opens offline): `{folder / 'report.html'}`" in report


async def test_a_sweep_on_s3_writes_report_html_beside_its_summary(emulator_url, s3_results):
    config = _config(emulator_url, f"{s3_results}/llmeter")
    out = await load_test_sweep(config)

    folder = out["folder"]
    assert out["html"] == f"{folder}/report.html"
    fs, root = fsspec.core.url_to_fs(folder)
    names = {p.rsplit("/", 1)[-1] for p in fs.ls(root, refresh=True)}
    assert {"report.html", "sweep-summary.csv", "00001-clients", "00002-clients"} <= names
    page = fs.cat(f"{root}/report.html").decode()
    _check_page(page, pd.read_csv(out["csv"]))

    report = await _report_artifact(out["flow_run_id"], f"{config.name}-report")
    bucket_key = out["html"].removeprefix("s3://")
    bucket, key = bucket_key.split("/", 1)
    assert f"[{out['html']}](https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key})" in report


async def test_a_fault_in_the_html_page_costs_the_sweep_nothing_else(emulator_url, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise ValueError("a bug in the page")

    monkeypatch.setattr("flows.publish.sweep_page", broken)
    config = _config(emulator_url, str(tmp_path)).model_copy(update={"clients": [1]})
    out = await load_test_sweep(config)

    assert out["html"] is None and not list(Path(out["folder"]).glob("*.html"))
    assert pd.read_csv(out["csv"])["total_requests"].tolist() == [2]
    report = await _report_artifact(out["flow_run_id"], f"{config.name}-report")
    assert "## Summary" in report and "Shareable report" not in report
