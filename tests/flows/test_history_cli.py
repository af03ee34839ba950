"""``llmeter-flows compare`` and ``history`` on real run folders: exit codes 0/1/2, files,
--force, sweeps compared run by run; ``llmeter-flows run`` adds its history row."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from flows.cli import app
from llmeter_core import Runner, create_endpoint
from llmeter_core.emulator import EmulatorThread
from llmeter_core.history import append_row, history_row, history_url

runner = CliRunner()
PAYLOAD = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 5}
LATENCY = {"ttft_ms": {"dist": "lognormal", "median": 60, "sigma": 0.2}, "itl_ms": 6, "output_tokens": 5}


def make_run(
    output: Path,
    run_name: str,
    scale: float = 1.0,
    clients: int = 4,
    seed: int = 0,
    model: str = "m",
    rate_500: float = 0.0,
) -> str:
    with EmulatorThread("openai", LATENCY, latency_scale=scale, seed=seed, rate_500=rate_500) as emulator:
        endpoint = create_endpoint("openai-chat", model_id=model, base_url=emulator.url + "/v1", stream=True)
        return (
            Runner(endpoint, PAYLOAD, clients=clients, n_requests=25, output_path=str(output), run_name=run_name)
            .run_sync()
            .output_path
        )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("runs")
    base = make_run(root / "night1", "m-00004-clients", seed=1)
    # "unchanged" is the same measurements again: a second live run on a loaded machine can be
    # slower by chance (the statistics of equal runs are tested in tests/core/test_compare*.py)
    same = shutil.copytree(base, root / "night2" / "m-00004-clients")
    return {
        "base": base,
        "same": str(same),
        "slow": make_run(root / "night3", "m-00004-clients", scale=1.5, seed=3),
        "errors": make_run(root / "night4", "m-00004-clients", seed=4, rate_500=0.2),
        "clients": make_run(root / "other", "m-00002-clients", clients=2, seed=5),
    }


def invoke(*args: str):
    return runner.invoke(app, list(args))


def test_help_lists_the_new_commands():
    result = invoke("--help")
    assert all(command in result.output for command in ("history", "compare", "nightly"))


def test_unchanged_exits_0(runs):
    result = invoke("compare", runs["base"], runs["same"])
    assert result.exit_code == 0, result.output
    assert "unchanged: no regressions: 1 compared" in result.output
    assert "TTFT p90" in result.output and "99% CI" in result.output


def test_a_slowdown_exits_1_and_writes_json_and_markdown(runs, tmp_path):
    out_json, out_md = tmp_path / "r" / "cmp.json", tmp_path / "r" / "cmp.md"
    result = invoke("compare", runs["base"], runs["slow"], "--json", str(out_json), "--markdown", str(out_md))
    assert result.exit_code == 1, result.output
    assert "regressed:" in result.output and "TTFT p50 +" in result.output
    data = json.loads(out_json.read_text())
    assert data["verdict"] == "regressed" and data["confidence"] == 0.99
    (comparison,) = data["comparisons"]
    assert comparison["candidate_url"] == runs["slow"] and comparison["baseline_urls"] == [runs["base"]]
    p50 = next(m for m in comparison["metrics"] if m["metric"] == "time_to_first_token-p50")
    assert p50["verdict"] == "regressed" and p50["ci_low"] > 0 and 0.3 < p50["change"] < 0.7
    markdown = out_md.read_text()
    assert markdown.startswith("# Comparison: regressed") and "| TTFT p50 |" in markdown


def test_new_errors_exit_1_and_a_threshold_can_loosen_a_metric(runs):
    result = invoke("compare", runs["base"], runs["errors"])
    assert result.exit_code == 1 and "new error type http_500" in result.output
    loose = invoke(
        "compare",
        runs["base"],
        runs["slow"],
        "--threshold",
        "time_to_first_token=5",
        "--threshold",
        "time_to_last_token=5",
        "--threshold",
        "time_per_output_token=5",
        "--threshold",
        "requests_per_minute=5",
        "--threshold",
        "output_tps=5",
    )
    assert loose.exit_code == 0, loose.output


def test_different_settings_are_refused_unless_forced(runs):
    refused = invoke("compare", runs["base"], runs["clients"])
    assert refused.exit_code == 2
    assert "clients" in refused.output and "--force" in refused.output and "Traceback" not in refused.output
    forced = invoke("compare", runs["base"], runs["clients"], "--force")
    assert forced.exit_code in (0, 1) and "differs clients: 4 -> 2" in forced.output


@pytest.mark.parametrize(
    "args, needle",
    [
        (["compare", "/nonexistent/a", "/nonexistent/b"], "no such folder"),
        (["compare", "{base}", "{base}", "--threshold", "ttft=0.1"], "--threshold ttft"),
        (["compare", "{base}", "{base}", "--threshold", "nonsense"], "METRIC=FRACTION"),
        (["compare", "{base}", "{base}", "--confidence", "1.5"], "--confidence"),
        (["compare", "{night1}", "{base}"], "compare two run folders or two sweep folders"),
    ],
)
def test_bad_input_exits_2_with_one_line(runs, args, needle):
    folder = str(Path(runs["base"]).parent)
    result = invoke(*[a.format(base=runs["base"], night1=folder) for a in args])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_sweep_folders_are_compared_run_by_run_and_a_missing_run_fails(runs, tmp_path):
    baseline, candidate = tmp_path / "base-sweep", tmp_path / "cand-sweep"
    for folder, source in ((baseline, "base"), (candidate, "same")):
        shutil.copytree(runs[source], folder / "m-00004-clients")
    shutil.copytree(runs["clients"], baseline / "m-00002-clients")
    result = invoke("compare", str(baseline), str(candidate))
    assert result.exit_code == 1, result.output
    assert "missing in the candidate" in result.output and "m at 2 clients" in result.output
    shutil.copytree(runs["clients"], candidate / "m-00002-clients")
    assert invoke("compare", str(baseline), str(candidate)).exit_code == 0


def test_history_prints_filters_and_writes_csv(runs, tmp_path):
    history = history_url(str(tmp_path), "suite-a")
    for key in ("base", "same", "slow"):
        append_row(history, history_row(runs[key], "suite-a"))
    append_row(history, history_row(runs["clients"], "suite-a", endpoint="other"))
    result = invoke("history", str(tmp_path / "suite-a"), "--csv", str(tmp_path / "h.csv"))
    assert result.exit_code == 0, result.output
    assert "4 runs" in result.output and "History of" in result.output
    frame = pd.read_csv(tmp_path / "h.csv")
    assert len(frame) == 4 and {"time_to_first_token-p90", "config_hash", "run_url"} <= set(frame.columns)
    only = invoke("history", str(tmp_path), "--endpoint", "other")
    assert only.exit_code == 0 and "1 runs" in only.output
    later = invoke("history", str(tmp_path), "--since", "2999-01-01")
    assert later.exit_code == 0 and "no history rows" in later.output
    assert invoke("history", str(tmp_path), "--since", "yesterday").exit_code == 2
    assert invoke("history", str(tmp_path / "nope")).exit_code == 2


def test_history_takes_a_suite_name_under_the_results_root(runs, tmp_path, monkeypatch):
    append_row(history_url(str(tmp_path), "named"), history_row(runs["base"], "named"))
    monkeypatch.setenv("LLMETER_RESULTS", str(tmp_path))
    result = invoke("history", "named")
    assert result.exit_code == 0 and "1 runs" in result.output
    suite = tmp_path / "named.yaml"
    suite.write_text("name: named\nendpoints: []\n")
    assert "1 runs" in invoke("history", str(suite)).output


def test_a_spec_run_adds_its_history_row(tmp_path):
    with EmulatorThread("openai", ttft_ms=1, itl_ms=0, output_tokens=3) as emulator:
        spec = tmp_path / "spec.yaml"
        spec.write_text(
            f"run_name: single\noutput: {tmp_path / 'out'}\n"
            f"endpoint: {{type: openai-chat, model: m, base_url: '{emulator.url}/v1'}}\n"
            "load: {clients: 1, n_requests: 3}\npayloads: {prompts: [hi]}\n"
        )
        result = invoke("run", str(spec), "--no-display")
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "out" / "history")
    assert frame["run_url"].tolist() == [str(tmp_path / "out" / "single")]
    assert frame["suite"].tolist() == ["out"] and frame["total_requests"].tolist() == [3]
