"""The llmeter-flows console app: sweep, demo, serve on top of the core commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_core_commands_start_without_importing_prefect():
    code = "import sys, flows.cli; assert 'prefect' not in sys.modules, 'prefect imported'; print('ok')"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "emulator", "sweep", "serve", "demo"):
        assert command in result.output


def test_a_bad_suite_exits_2_naming_every_field(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text("name: bad\nendpoints: []\npayloads: {prompts: []}\nload: {clients: 0, n_requests: 1}\n")
    result = runner.invoke(app, ["sweep", str(suite)])
    assert result.exit_code == 2
    assert "endpoints" in result.output and "payloads.prompts" in result.output and "load.clients" in result.output


@pytest.fixture
def harness_api(prefect_harness, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_harness)
    return prefect_harness


def test_sweep_runs_a_suite_file_and_prints_the_table(harness_api, emulator_url, tmp_path, monkeypatch):
    monkeypatch.setenv("CLI_EMULATOR", emulator_url)
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: cli-sweep\n"
        "endpoints: [{type: openai-chat, model: m, base_url: '${CLI_EMULATOR}'}]\n"
        "payloads: {prompts: [hi], max_tokens: 8}\n"
        "load: {n_requests: 2}\n"
        "clients: [1, 2]\n"
        "live_interval: 0.5\n"
    )
    result = runner.invoke(app, ["sweep", str(suite), "--results", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "cli-sweep (latencies in ms)" in result.output
    (csv,) = (tmp_path / "out" / "cli-sweep").glob("*/sweep-summary.csv")
    assert pd.read_csv(csv)["total_requests"].tolist() == [2, 4]
    assert f"summary: {csv}" in result.output.replace("\n", "")
    assert "/v2/runs/flow-run/" in result.output


def test_demo_sweeps_the_built_in_emulator(harness_api, tmp_path):
    result = runner.invoke(app, ["demo", "--results", str(tmp_path), "--clients", "1,2", "--n-requests", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "demo").iterdir())[-1] == "history"  # one row per run
    (folder,) = [p for p in (tmp_path / "demo").iterdir() if p.name != "history"]
    frame = pd.read_parquet(folder / "sweep-summary.parquet")
    assert frame["clients"].tolist() == [1, 2] and (frame["failed_requests"] == 0).all()
    assert sorted(p.name for p in (folder / "charts").iterdir()) == [
        "error-rate.png", "output-tps.png", "requests-per-minute.png", "ttft.png", "ttlt.png",
    ]
    assert str(folder) in result.output.replace("\n", "")


def test_serve_registers_every_deployment_of_prefect_yaml(harness_api, tmp_path):
    import asyncio
    import os
    import signal
    import time

    from prefect.client.orchestration import get_client

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    log = (tmp_path / "serve.log").open("wb")
    served = subprocess.Popen([sys.executable, "-m", "flows.cli", "serve"], env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)

    async def registered() -> set[str]:
        async with get_client() as client:
            return {d.name for d in await client.read_deployments()}

    try:
        deadline = time.monotonic() + 60
        while not {"nightly-benchmark", "on-demand-sweep"} <= asyncio.run(registered()):
            assert time.monotonic() < deadline and served.poll() is None, (tmp_path / "serve.log").read_text()
            time.sleep(0.5)
    finally:
        served.send_signal(signal.SIGINT)
        served.wait(timeout=30)
        log.close()
    assert "serving nightly-benchmark, on-demand-sweep" in (tmp_path / "serve.log").read_text()
