"""Every AWS endpoint type from a spec file, run by the Runner against the emulators, and the
example spec ``examples/bedrock-emulator.yaml``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from llmeter_core.results import Result
from llmeter_core.spec import parse_spec

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bedrock-emulator.yaml"

CASES = [
    ("bedrock", "bedrock-converse", "m", {}, {}),
    ("bedrock", "bedrock-converse-stream", "us.anthropic.claude-x", {}, {}),
    ("bedrock", "bedrock-invoke", "anthropic.claude-x", {}, {}),
    ("bedrock", "bedrock-invoke-stream", "meta.llama3-8b", {}, {"output_format": "llama"}),
    ("sagemaker", "sagemaker", "my-endpoint", {}, {}),
    ("sagemaker", "sagemaker-stream", "my-endpoint", {"output_format": "openai"}, {"output_format": "openai"}),
]


@pytest.mark.parametrize("kind, type_name, model, options, extra", CASES, ids=[c[1] for c in CASES])
async def test_spec_runs(emulator, tmp_path, kind, type_name, model, options, extra):
    emu = await emulator(kind, ttft_ms=5, itl_ms=1, output_tokens=6)
    spec = parse_spec(
        {
            "run_name": "spec-run",
            "output": str(tmp_path),
            "endpoint": {"type": type_name, "model": model, "endpoint_url": emu.url, **options},
            "load": {"clients": 2, "n_requests": 3, "timeout": 10},
            "payloads": {"prompts": ["one two three", "four five"], "max_tokens": 4, "extra": extra},
        }
    )
    result = await spec.runner(handle_signals=False).run()
    assert result.total_requests == 6
    assert result.stats["failed_requests"] == 0, result.stats.get("errors")
    assert result.stats["total_output_tokens"] == 6 * 4  # the cap reached the model's own body
    assert emu.stats()["completed"] == 6
    saved = Result.load(result.output_path)
    assert {r.id for r in saved.responses} <= set(emu.state.truth.records)


async def test_example_spec(emulator, tmp_path):
    emu = await emulator("bedrock", ttft_ms=5, itl_ms=1, output_tokens=10, cached_tokens=8)
    data = yaml.safe_load(EXAMPLE.read_text())
    data["endpoint"]["endpoint_url"] = emu.url  # the example names a fixed port
    data["output"] = str(tmp_path)
    data["load"]["n_requests"] = 2
    result = await parse_spec(data).runner(handle_signals=False).run()
    assert result.total_requests == 16 * 2 and result.stats["failed_requests"] == 0
    # the emulator caches min(8, prompt words) tokens of each prompt
    assert result.stats["total_cached_input_tokens"] == sum(
        min(8, len(r.input_prompt.split())) for r in result.responses
    )
