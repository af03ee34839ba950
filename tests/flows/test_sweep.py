"""load_test_sweep end to end: emulator -> Prefect -> moto S3, files and artifacts read back."""

from __future__ import annotations

import json
import uuid

import fsspec
import pandas as pd
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.exceptions import ParameterTypeError

from flows.params import SweepConfig
from flows.sweep import load_test_sweep
from llmeter_core.errors import ConfigError
from llmeter_core.results import Result
from tasks.artifact_ids import is_report_id

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _config(emulator_url: str, results: str, **overrides) -> SweepConfig:
    data = dict(
        name=f"sweep-{uuid.uuid4().hex[:6]}",
        endpoint={"type": "openai-chat", "model": "emulator-model", "base_url": emulator_url},
        payloads={"prompts": ["hello there", "write a poem", "count to ten"], "max_tokens": 12},
        load={"n_requests": 3, "timeout": 10},
        clients=[1, 2, 4],
        results=results,
        live_interval=0.5,
    )
    data.update(overrides)
    if data.get("clients") is None:
        data.pop("clients")
    return SweepConfig(**data)


async def _flow_run_artifacts(flow_run_id: str) -> dict:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[uuid.UUID(flow_run_id)]))
        )
    return {a.key: a for a in found if a.key}


async def test_sweep_on_s3_writes_runs_summary_charts_and_artifacts(emulator_url, s3_results):
    config = _config(emulator_url, f"{s3_results}/llmeter")
    out = await load_test_sweep(config)

    folder = out["folder"]
    assert folder.startswith(f"{s3_results}/llmeter/{config.name}/") and folder.endswith("Z")
    assert [r["run_name"] for r in out["runs"]] == ["00001-clients", "00002-clients", "00004-clients"]
    fs, root = fsspec.core.url_to_fs(folder)
    for run in out["runs"]:
        names = {p.rsplit("/", 1)[-1] for p in fs.ls(f"{root}/{run['run_name']}", refresh=True)}
        assert {"run_config.json", "summary.json", "stats.json", "responses.jsonl"} <= names
        stats = json.loads(fs.cat(f"{root}/{run['run_name']}/stats.json"))
        assert stats["total_requests"] == 3 * run["clients"] and stats["failed_requests"] == 0
        # equal when a busy loop reads a whole reply in one go
        assert 0.01 < stats["time_to_first_token-p50"] <= stats["time_to_last_token-p50"] < 1.0

    for frame in (pd.read_csv(out["csv"]), pd.read_parquet(out["parquet"])):
        assert frame["clients"].tolist() == [1, 2, 4]
        assert frame["total_requests"].tolist() == [3, 6, 12]
        assert frame["run_url"].tolist() == [f"{folder}/{n:05d}-clients" for n in (1, 2, 4)]
        assert (frame["requests_per_minute"] > 0).all()
    assert set(out["charts"]) == {"ttft", "ttlt", "throughput", "requests-per-minute", "output-tps", "error-rate"}
    for url in out["charts"].values():
        assert url.startswith(f"{folder}/charts/") and fs.cat(url).startswith(b"\x89PNG")

    artifacts = await _flow_run_artifacts(out["flow_run_id"])
    report = artifacts[f"{config.name}-report"]
    assert report.type == "markdown" and report.data.count("data:image/png;base64,") == 6
    assert [k for k in artifacts if not k.startswith(f"{config.name}-0000")] == [f"{config.name}-report"]
    ttft_ms = round(pd.read_csv(out["csv"])["time_to_first_token-p50"][2] * 1000, 1)
    summary = report.data.split("## Summary")[1].split("##")[0]
    assert "| TTFT p50 (ms) |" in summary and "| Throughput (req/s) |" in summary and f" {ttft_ms:g} |" in summary
    assert "## Runs" in report.data and f"[{folder}/00004-clients](https://s3.console.aws.amazon.com/s3/" in report.data
    by_id = sorted(artifacts.values(), key=lambda a: str(a.id), reverse=True)  # the v2 page's order
    assert by_id[0].key == f"{config.name}-report"
    # first by construction, not by luck: the report's id is in its own range, the 12 others below it
    assert is_report_id(by_id[0].id) and not any(is_report_id(a.id) for a in by_id[1:])
    for clients in ("00001", "00002", "00004"):
        for suffix in ("progress", "live", "metrics", "stats"):
            assert f"{config.name}-{clients}-clients-{suffix}" in artifacts


async def test_bad_input_lists_every_error_before_any_request(emulator_url, tmp_path):
    emulator_requests = _emulator_requests(emulator_url)
    with pytest.raises(ParameterTypeError) as caught:
        await load_test_sweep(
            {
                "name": "x",
                "endpoint": {"type": "openai-chat"},
                "payloads": {"prompts": []},
                "load": {"clients": 0, "n_requests": 1},
                "clients": [0],
            }
        )
    message = str(caught.value)
    # (a typed endpoint's errors name its type: sweep.endpoint.openai-chat.model)
    for field in (
        "sweep.endpoint.openai-chat.model",
        "sweep.payloads.prompts",
        "sweep.load.clients",
        "sweep.clients.0",
    ):
        assert field in message

    config = _config(
        emulator_url,
        str(tmp_path),
        endpoint={"type": "openai-chat", "model": "m", "base_url": emulator_url, "colour": "red"},
    )
    with pytest.raises(ConfigError, match="endpoint.colour"):
        await load_test_sweep(config)
    assert _emulator_requests(emulator_url) == emulator_requests
    assert not list(tmp_path.iterdir())


async def test_local_results_root_from_the_environment(emulator_url, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMETER_RESULTS", str(tmp_path / "from-env"))
    config = _config(emulator_url, None, clients=[2])
    out = await load_test_sweep(config)
    assert out["folder"].startswith(str(tmp_path / "from-env" / config.name))
    result = Result.load(out["runs"][0]["run_url"])
    assert result.total_requests == 6 and not result.interrupted


def _emulator_requests(base_url: str) -> int:
    """Requests the emulator has received (its ground truth, not our own count)."""
    import httpx

    return int(httpx.get(base_url.removesuffix("/v1") + "/emulator/stats").json()["requests"])


async def test_synthetic_anthropic_sweep_with_prices_has_cost_and_lengths(tmp_path):
    """The issue's finish line through Prefect: a synthetic 512-in / 256-out workload on an
    Anthropic endpoint with prices set; cost and length figures in stats.json, the sweep
    summary, the charts, and SweepResult.load."""
    from llmeter_core.emulator import EmulatorThread
    from llmeter_core.sweep_result import SweepResult

    pricing = {"input_per_1m": 3.0, "output_per_1m": 15.0}
    synthetic = {"input_tokens": {"mean": 512}, "output_tokens": {"mean": 256}, "count": 10}
    with EmulatorThread("anthropic", ttft_ms=0, itl_ms=0, output_tokens=10_000) as emu:
        config = _config(
            emu.url,
            str(tmp_path),
            payloads={"synthetic": synthetic},
            clients=[1, 2],
            endpoint={"type": "anthropic-messages", "model": "claude", "base_url": emu.url, "pricing": pricing},
        )
        out = await load_test_sweep(config)
    each = (512 * 3.0 + 256 * 15.0) / 1e6
    frame = pd.read_csv(out["csv"])
    assert list(frame["cost_per_1k_requests"]) == pytest.approx([each * 1000] * 2)
    assert list(frame["cost_total"]) == pytest.approx([each * 3, each * 6])
    assert list(frame["asked_output_tokens-average"]) == [256, 256]
    assert list(frame["num_tokens_output-p50"]) == [256, 256] and list(frame["num_tokens_input-p50"]) == [512, 512]
    assert "cost" in out["charts"]
    assert (tmp_path / out["charts"]["cost"].removeprefix(str(tmp_path) + "/")).exists()
    assert "cost_total" in out["table"][0]
    sweep = SweepResult.load(out["folder"])
    assert list(sweep.frame["cost_total"]) == pytest.approx(list(frame["cost_total"]))


async def test_a_sweep_over_rates_names_runs_by_rate_and_charts_achieved_rate(emulator_url, tmp_path):
    config = _config(
        emulator_url,
        str(tmp_path),
        clients=None,
        rates=[10, 20],
        load={"run_duration": 1.0, "timeout": 10, "arrival": "poisson"},
    )
    out = await load_test_sweep(config)
    assert [r["run_name"] for r in out["runs"]] == ["rate-00010", "rate-00020"]
    frame = pd.read_csv(out["csv"])
    assert frame["rate"].tolist() == [10.0, 20.0] and frame["achieved_rate"].notna().all()
    assert "achieved-rate" in out["charts"]
    stats = json.loads(
        (tmp_path / config.name / out["folder"].rsplit("/", 1)[-1] / "rate-00020" / "stats.json").read_text()
    )
    assert stats["load_mode"] == "rate" and stats["offered_rate"] == 20.0


def test_a_load_rate_or_client_count_without_a_list_is_one_run(emulator_url, tmp_path):
    config = _config(
        emulator_url, str(tmp_path), clients=None, load={"rate": 50, "arrival": "poisson", "run_duration": 5}
    )
    assert config.load_points() == [("rate", 50.0)] and config.load.arrival == "poisson"
    config = _config(emulator_url, str(tmp_path), clients=None, load={"clients": 3, "n_requests": 2})
    assert config.load_points() == [("clients", 3)]
    with pytest.raises(Exception, match="load.rate would be ignored"):
        _config(emulator_url, str(tmp_path), clients=[1, 2], load={"rate": 5, "run_duration": 1.0})


def test_a_sweep_takes_clients_or_rates_not_both(emulator_url, tmp_path):
    with pytest.raises(Exception, match="either clients"):
        _config(emulator_url, str(tmp_path), clients=[1, 2], rates=[5])
    with pytest.raises(Exception, match="load.rate would be ignored"):
        _config(emulator_url, str(tmp_path), clients=None, rates=[5], load={"run_duration": 1.0, "rate": 3})
