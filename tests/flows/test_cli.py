"""The llmeter-flows console app: sweep, demo, serve on top of the core commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from tests.processes import pythonpath

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def test_core_commands_start_without_importing_prefect():
    code = "import sys, flows.cli; assert 'prefect' not in sys.modules, 'prefect imported'; print('ok')"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env={"PYTHONPATH": pythonpath(), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "ok", done.stderr


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("run", "emulator", "sweep", "serve", "demo", "capacity"):
        assert command in result.output


def test_the_flows_app_is_its_own_and_leaves_the_core_app_alone():
    """flows.cli builds its own app with the core's commands; importing it adds nothing to
    llmeter_core.cli.app (which once got sweep, demo and serve decorated onto it)."""
    import llmeter_core.cli as core

    def names(typer_app) -> set[str]:
        return {c.name or c.callback.__name__ for c in typer_app.registered_commands} | {
            g.name for g in typer_app.registered_groups
        }

    assert app is not core.app
    assert names(core.app) == {"run", "emulator"}
    assert names(app) == {"run", "emulator", "sweep", "demo", "serve", "nightly", "history", "compare", "capacity"}


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
    assert "cli-sweep" in result.output and "(req/min)" in result.output and "(ms)" in result.output
    (csv,) = (tmp_path / "out" / "cli-sweep").glob("*/sweep-summary.csv")
    assert pd.read_csv(csv)["total_requests"].tolist() == [2, 4]
    assert f"summary: {csv}" in result.output.replace("\n", "")
    assert f"report:  {csv.parent / 'report.html'}" in result.output.replace("\n", "")
    assert (csv.parent / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert "/v2/runs/flow-run/" in result.output


def test_demo_sweeps_the_built_in_emulator(harness_api, tmp_path):
    result = runner.invoke(app, ["demo", "--results", str(tmp_path), "--clients", "1,2", "--n-requests", "2"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "demo").iterdir())[-1] == "history"  # one row per run
    (folder,) = [p for p in (tmp_path / "demo").iterdir() if p.name != "history"]
    frame = pd.read_parquet(folder / "sweep-summary.parquet")
    assert frame["clients"].tolist() == [1, 2] and (frame["failed_requests"] == 0).all()
    assert sorted(p.name for p in (folder / "charts").iterdir()) == [
        "error-rate.png",
        "output-tps.png",
        "requests-per-minute.png",
        "throughput.png",
        "ttft.png",
        "ttlt.png",
    ]
    assert str(folder) in result.output.replace("\n", "")


def _serve_from(cwd: Path) -> dict[str, str]:
    """Run ``llmeter-flows serve`` in ``cwd`` until prefect.yaml's deployments are registered;
    returns each one's entrypoint as the server has it, and removes them again."""
    import asyncio
    import os
    import signal
    import time

    from prefect.client.orchestration import get_client

    async def registered() -> dict[str, str]:
        async with get_client() as client:
            return {d.name: str(d.entrypoint) for d in await client.read_deployments()}

    async def remove(names: set[str]) -> None:
        async with get_client() as client:
            for deployment in await client.read_deployments():
                if deployment.name in names:
                    await client.delete_deployment(deployment.id)

    cwd.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    log = (cwd / "serve.log").open("wb")
    served = subprocess.Popen(
        [sys.executable, "-m", "flows.cli", "serve"], env=env, cwd=cwd, stdout=log, stderr=subprocess.STDOUT
    )
    wanted = {"nightly-benchmark", "on-demand-sweep", "capacity-search", "load-shard"}
    try:
        deadline = time.monotonic() + 60
        while not wanted <= set(found := asyncio.run(registered())):
            assert time.monotonic() < deadline and served.poll() is None, (cwd / "serve.log").read_text()
            time.sleep(0.5)
    finally:
        served.send_signal(signal.SIGINT)
        served.wait(timeout=30)
        log.close()
    assert "serving nightly-benchmark, on-demand-sweep" in (cwd / "serve.log").read_text()
    asyncio.run(remove(wanted))
    return {name: found[name] for name in wanted}


def test_serve_registers_every_deployment_with_one_entrypoint_wherever_it_runs(harness_api, tmp_path):
    """The entrypoint the UI shows is prefect.yaml's (relative to the project root), not the
    flow's file relative to the directory ``serve`` ran in."""
    from flows.deployments import load_deployment_entries

    expected = {e["name"]: e["entrypoint"] for e in load_deployment_entries()}
    assert _serve_from(tmp_path / "a") == expected
    assert _serve_from(tmp_path / "b" / "c" / "d") == expected  # deeper: the old "../../.." differed


# -- issue 7: clear errors, exit status 2, before any flow run ------------------------------------
def _lines(result) -> list[str]:
    assert "Traceback" not in result.output, result.output
    return [line for line in result.output.splitlines() if line.strip() and not line.startswith("Prefect API")]


def test_sweep_refuses_bad_endpoint_options_before_any_flow_run(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)  # LiteLLM not installed
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\n"
        "endpoints:\n"
        "  - {type: openai-chat, model: a, base_url: 'http://127.0.0.1:9/v1', stream: maybe, max_connections: -1}\n"
        "  - {type: litellm, model: openai/b}\n"
        "payloads: {prompts: [hi]}\nload: {n_requests: 1}\nclients: [1]\n"
    )
    result = runner.invoke(app, ["sweep", str(suite), "--results", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = _lines(result)
    assert lines[0] == "error invalid parameters: 3 problems"
    assert lines[1:] == [
        "  endpoints[0].stream: must be true or false, got str 'maybe'",
        "  endpoints[0].max_connections: must be >= 0, got -1",
        "  endpoints[1].type: the 'litellm' endpoint needs LiteLLM: pip install 'llmeter-flows[litellm]'",
    ]
    assert not (tmp_path / "out").exists()


def test_a_suite_that_sets_load_clients_is_refused(tmp_path):
    suite = tmp_path / "s.yaml"
    suite.write_text(
        "name: s\nendpoints: [{type: openai-chat, model: a, base_url: 'http://127.0.0.1:9/v1'}]\n"
        "payloads: {prompts: [hi]}\nload: {n_requests: 1, clients: 64}\nclients: [1]\n"
    )
    result = runner.invoke(app, ["sweep", str(suite)])
    assert result.exit_code == 2
    (line,) = _lines(result)
    assert line.startswith("error load.clients: a sweep takes its client counts from `clients`")


def test_demo_refuses_bad_numbers_in_one_line(tmp_path):
    result = runner.invoke(app, ["demo", "--results", str(tmp_path), "--clients", "1,0", "--n-requests", "0"])
    assert result.exit_code == 2
    lines = _lines(result)
    assert lines == [
        "error invalid parameters: 2 problems",
        "  load.n_requests: Input should be greater than or equal to 1",
        "  clients[1]: Input should be greater than or equal to 1",
    ], result.output


def test_serve_refuses_a_missing_or_binary_prefect_file(tmp_path):
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01")
    for name, expected in [("missing.yaml", "no such file"), ("binary.yaml", "not a UTF-8 text file")]:
        result = runner.invoke(app, ["serve", "--prefect-file", str(tmp_path / name)])
        assert result.exit_code == 2, result.output
        (line,) = _lines(result)
        assert line.startswith("error --prefect-file: ") and expected in line


def test_the_sweep_table_shows_throughput_and_stars_estimated_token_rates():
    import io

    from rich.console import Console

    from flows.cli import sweep_table

    rows = [
        {
            "clients": 1,
            "completed_requests_per_second": 9.5,
            "output_tps": 190.0,
            "num_tokens_output_sources": '{"usage": 3}',
        },
        {
            "clients": 2,
            "completed_requests_per_second": 18.25,
            "output_tps": 360.0,
            "num_tokens_output_sources": '{"stream": 3}',
        },
    ]
    console = Console(file=io.StringIO(), width=200)
    console.print(sweep_table(rows, "t"))
    text = console.file.getvalue()
    assert "Throughput" in text and "(req/s)" in text and "18.25" in text
    assert "360.0*" in text and "190.0*" not in text
    for unit in ("(tok/s)", "(req/min)", "(ms)"):
        assert unit in text  # the report artifact's units, a word a line in the headers
    assert "TTFT p50" not in text  # not the old header without its unit


def test_run_refuses_a_bad_sharded_spec_with_exit_2_before_prefect_starts(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "endpoint: {type: openai-chat, model: m, base_url: 'http://127.0.0.1:9/v1'}\n"
        "payloads: {prompts: [hi]}\n"
        "load: {clients: 1, n_requests: 1, shards: 2}\n"
    )
    result = runner.invoke(app, ["run", str(spec), "--no-display", "--output", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert "load: shards: 2 shards need at least 2 clients (one each), got clients: 1" in result.output
    assert "Prefect API" not in result.output and not (tmp_path / "out").exists()


def _help(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "120"}, color=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command", ["run", "sweep", "nightly", "demo", "serve", "capacity", "history", "compare", "emulator openai"]
)
def test_help_names_positionals_by_metavar_and_gives_flags_no_type(command):
    text = _help(*command.split())
    (usage,) = [line for line in text.splitlines() if "Usage:" in line]
    assert "{" not in usage and "}" not in usage, usage  # typer's "{spec}" read as a set of choices
    assert "<bool>" not in text, text  # --help, --display/--no-display, --emulator take no value


def test_help_usage_lines_read_as_written():
    assert "run [OPTIONS] SPEC" in _help("run")
    assert "sweep [OPTIONS] SUITE" in _help("sweep")
    assert "nightly [OPTIONS] [SUITE]" in _help("nightly")  # optional: in brackets
    assert "compare [OPTIONS] BASELINE CANDIDATE" in _help("compare")
    text = _help("run")
    assert "--display" in text and "--no-display" in text and "Live stats display" in text
    assert "<path>" in text and "<str>" in text  # options that take a value keep their type
    assert "--help" in _help() and "<bool>" not in _help()


def test_a_missing_positional_is_named_by_its_metavar():
    result = runner.invoke(app, ["run"], env={"COLUMNS": "120"}, color=False)
    assert result.exit_code == 2 and "SPEC" in result.output, result.output
