"""The AWS example suite runs through model_sweep against the emulator (every AWS API on one port)."""

from pathlib import Path

import orjson
import pandas as pd
import pytest

from flows.model_sweep import model_sweep
from flows.params import load_suite
from llmeter_core.emulator import EmulatorThread

SUITE = Path(__file__).parents[2] / "deployments" / "suites" / "bedrock-emulator.yaml"


@pytest.fixture
def aws_emulator(monkeypatch):
    with EmulatorThread("all", ttft_ms=10, itl_ms=1, output_tokens=8, seed=3) as emu:
        monkeypatch.setenv("LLMETER_AWS_EMULATOR_URL", emu.url)
        for key, value in {
            "AWS_ACCESS_KEY_ID": "dummy",
            "AWS_SECRET_ACCESS_KEY": "dummy",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        yield emu


@pytest.mark.usefixtures("prefect_harness")
async def test_bedrock_suite_sweeps_every_aws_endpoint(aws_emulator, tmp_path):
    suite = load_suite(SUITE)
    suite = suite.model_copy(
        update={
            "clients": [1, 2],
            "results": str(tmp_path),
            "live_interval": 0.5,
            "load": suite.load.model_copy(update={"n_requests": 2}),
        }
    )
    out = await model_sweep(suite)
    folder = Path(out["folder"])
    stats_files = sorted(folder.rglob("stats.json"))
    assert len(stats_files) == 6  # 3 endpoints x 2 client counts
    for path in stats_files:
        stats = orjson.loads(path.read_bytes())
        assert stats["failed_requests"] == 0, (path, stats["errors"])
        assert stats["num_tokens_output-p50"] == 8
        assert stats["time_to_first_token-p50"] is not None and stats["time_to_first_token-p50"] >= 0.01
    served = aws_emulator.stats()["requests_by_api"]
    # 2 clients x 2 requests + 1 x 2 per endpoint, each through its own API
    assert served == {"bedrock.converse_stream": 6, "bedrock.invoke_stream": 6, "sagemaker.invoke_stream": 6}
    summaries = [pd.read_csv(p) for p in folder.rglob("*sweep-summary.csv")]
    assert sum(len(s) for s in summaries) == 6
