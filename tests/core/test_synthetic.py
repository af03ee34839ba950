"""Synthetic workloads: seeded lengths, prompts of the asked token count in the run's
tokenizer, max_tokens in each endpoint type's own body, asked lengths in every response and
asked vs got in stats.json, against the emulators."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from llmeter_core import ConfigError, Result
from llmeter_core.emulator import EmulatorThread
from llmeter_core.endpoints import create_endpoint
from llmeter_core.spec import parse_spec
from llmeter_core.synthetic import LengthSpec, SyntheticSpec, build_synthetic, prompt_of_length
from llmeter_core.tokenizers import WhitespaceTokenizer, load_tokenizer

TINY = Path(__file__).parent.parent / "data" / "tiny-bpe"


def test_lengths_are_seeded_normal_and_clipped():
    import statistics

    spec = LengthSpec(mean=512, stdev=128, min=64, max=2048)
    draws = [spec.draw(rng) for rng in [random.Random(1)] for _ in range(5000)]
    assert statistics.mean(draws) == pytest.approx(512, abs=8)
    assert statistics.stdev(draws) == pytest.approx(128, abs=8)
    assert draws == [spec.draw(rng) for rng in [random.Random(1)] for _ in range(5000)]  # seeded
    clipped = LengthSpec(mean=512, stdev=128, min=500, max=520)
    assert {clipped.draw(rng) for rng in [random.Random(2)] for _ in range(500)} >= {500, 520}
    assert all(500 <= clipped.draw(random.Random(i)) <= 520 for i in range(200))
    assert LengthSpec(mean=7).draw(random.Random(0)) == 7


@pytest.mark.parametrize("n", [1, 7, 64, 512, 2048])
def test_prompts_have_the_asked_token_count(n):
    hf = load_tokenizer(f"hf:{TINY}")
    rng = random.Random(n)
    assert len(WhitespaceTokenizer().encode(prompt_of_length(WhitespaceTokenizer(), n, rng))) == n
    assert all(len(hf.encode(prompt_of_length(hf, n, rng))) == n for _ in range(10))


def test_shared_prefix_is_the_same_text_in_every_prompt():
    endpoint = create_endpoint("openai-chat", model_id="m", base_url="http://127.0.0.1:1/v1")
    spec = SyntheticSpec(
        input_tokens={"mean": 100, "stdev": 20, "min": 40},
        output_tokens={"mean": 10},
        count=20,
        shared_prefix_tokens=32,
    )
    hf = load_tokenizer(f"hf:{TINY}")
    payloads, _ = build_synthetic(spec, endpoint, hf)
    prompts = [p["messages"][0]["content"] for p in payloads]
    prefix = hf.decode(hf.encode(prompts[0])[:32])
    assert all(p.startswith(prefix) for p in prompts)
    assert len({p[len(prefix) : len(prefix) + 40] for p in prompts}) == 20  # the rest differs
    again, _ = build_synthetic(spec, endpoint, hf)
    assert again == payloads  # seeded


@pytest.mark.parametrize(
    "data, field",
    [
        (
            {"input_tokens": {"mean": 10}, "output_tokens": {"mean": 5}, "shared_prefix_tokens": 10},
            "payloads.synthetic",
        ),
        (
            {"input_tokens": {"mean": 10, "min": 9, "max": 3}, "output_tokens": {"mean": 5}},
            "payloads.synthetic.input_tokens",
        ),
        ({"input_tokens": {"mean": 0}, "output_tokens": {"mean": 5}}, "payloads.synthetic.input_tokens.mean"),
        ({"output_tokens": {"mean": 5}}, "payloads.synthetic.input_tokens"),
    ],
)
def test_bad_synthetic_specs_are_named(data, field):
    spec = {
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1"},
        "load": {"n_requests": 1},
        "payloads": {"synthetic": data},
    }
    with pytest.raises(ConfigError) as caught:
        parse_spec(spec)
    assert caught.value.field == field, str(caught.value)


def test_exact_output_is_refused_where_the_api_has_no_minimum():
    spec = {
        "endpoint": {"type": "anthropic-messages", "model": "m", "base_url": "http://127.0.0.1:1"},
        "load": {"n_requests": 1},
        "payloads": {"synthetic": {"input_tokens": {"mean": 10}, "output_tokens": {"mean": 5}, "exact_output": True}},
    }
    with pytest.raises(ConfigError) as caught:
        parse_spec(spec).runner()
    assert caught.value.field == "payloads.synthetic.exact_output"


def _spec(endpoint: dict, out, synthetic: dict, **more) -> dict:
    return {
        "run_name": "synthetic",
        "output": str(out),
        "endpoint": endpoint,
        "load": {"clients": 4, "n_requests": 10},
        "payloads": {"synthetic": synthetic},
        **more,
    }


def test_openai_synthetic_run_asked_vs_got(tmp_path):
    synthetic = {
        "input_tokens": {"mean": 512, "stdev": 128, "min": 64, "max": 2048},
        "output_tokens": {"mean": 40, "stdev": 10, "min": 5},
        "count": 50,
        "exact_output": True,
    }
    with EmulatorThread("openai", ttft_ms=0, itl_ms=0, output_tokens=10_000) as emu:
        endpoint = {"type": "openai-chat", "model": "m", "base_url": emu.url + "/v1"}
        result = parse_spec(_spec(endpoint, tmp_path, synthetic)).runner().run_sync()
    assert result.total_requests == 40 and result.stats["failed_requests"] == 0
    for r in result.responses:
        assert r.num_tokens_input == r.annotations["asked_input_tokens"]  # the emulator counts words
        assert r.num_tokens_output == r.annotations["asked_output_tokens"]
        assert r.input_payload["max_tokens"] == r.input_payload["min_tokens"] == r.annotations["asked_output_tokens"]
        assert r.input_payload["ignore_eos"] is True
    stats = result.stats
    assert stats["output_tokens_short_requests"] == 0
    assert stats["asked_output_tokens-average"] == pytest.approx(stats["num_tokens_output-average"])
    loaded = Result.load(result.output_path)
    assert loaded.stats["asked_input_tokens-average"] == pytest.approx(stats["num_tokens_input-average"])
    assert loaded.responses[0].annotations["asked_output_tokens"] == loaded.responses[0].num_tokens_output


def test_short_replies_are_counted(tmp_path):
    synthetic = {"input_tokens": {"mean": 16}, "output_tokens": {"mean": 30}, "count": 5}
    with EmulatorThread("openai", ttft_ms=0, itl_ms=0, output_tokens=20) as emu:  # stops at 20
        endpoint = {"type": "openai-chat", "model": "m", "base_url": emu.url + "/v1"}
        result = parse_spec(_spec(endpoint, tmp_path, synthetic)).runner().run_sync()
    assert result.stats["output_tokens_short_requests"] == 40


def test_anthropic_synthetic_512_in_256_out_with_prices(tmp_path):
    """The issue's finish line: a synthetic 512-in / 256-out workload on an Anthropic endpoint
    with prices set, cost and length figures in stats.json."""
    synthetic = {"input_tokens": {"mean": 512}, "output_tokens": {"mean": 256}, "count": 20}
    pricing = {"input_per_1m": 3.0, "output_per_1m": 15.0}
    with EmulatorThread("anthropic", ttft_ms=0, itl_ms=0, output_tokens=10_000) as emu:
        endpoint = {"type": "anthropic-messages", "model": "claude", "base_url": emu.url, "pricing": pricing}
        result = parse_spec(_spec(endpoint, tmp_path, synthetic)).runner().run_sync()
    stats = result.stats
    assert stats["failed_requests"] == 0
    assert stats["num_tokens_input-p50"] == 512 and stats["num_tokens_output-p50"] == 256
    assert stats["asked_input_tokens-average"] == 512 and stats["asked_output_tokens-average"] == 256
    assert stats["cost_per_1k_requests"] == pytest.approx((512 * 3.0 + 256 * 15.0) / 1e6 * 1000)


def test_bedrock_converse_synthetic_lengths(tmp_path, monkeypatch):
    for key, value in {
        "AWS_ACCESS_KEY_ID": "AKIDUMMY",
        "AWS_SECRET_ACCESS_KEY": "dummy",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }.items():
        monkeypatch.setenv(key, value)
    synthetic = {"input_tokens": {"mean": 100, "stdev": 30, "min": 20}, "output_tokens": {"mean": 25}, "count": 10}
    with EmulatorThread("bedrock", ttft_ms=0, itl_ms=0, output_tokens=10_000) as emu:
        endpoint = {"type": "bedrock-converse-stream", "model": "anthropic.claude-x", "endpoint_url": emu.url}
        result = parse_spec(_spec(endpoint, tmp_path, synthetic, run_name="bedrock")).runner().run_sync()
    assert result.stats["failed_requests"] == 0
    for r in result.responses:
        assert r.input_payload["inferenceConfig"]["maxTokens"] == r.annotations["asked_output_tokens"] == 25
        assert r.num_tokens_input == r.annotations["asked_input_tokens"]


def test_hf_tokenizer_in_a_spec_is_recorded_in_run_config(tmp_path):
    synthetic = {"input_tokens": {"mean": 64}, "output_tokens": {"mean": 4}, "count": 3}
    with EmulatorThread("openai", ttft_ms=0, itl_ms=0, output_tokens=4) as emu:
        endpoint = {"type": "openai-chat", "model": "m", "base_url": emu.url + "/v1"}
        spec = parse_spec(_spec(endpoint, tmp_path, synthetic, tokenizer="hf:tiny-bpe"), base_dir=TINY.parent)
        result = spec.runner().run_sync()
    hf = load_tokenizer(f"hf:{TINY}")
    assert all(len(hf.encode(r.input_prompt)) == 64 for r in result.responses)
    config = (tmp_path / "synthetic" / "run_config.json").read_text()
    assert f"hf:{TINY.resolve()}/tokenizer.json (sha256 {hf.sha256})" in config


def test_the_example_spec_builds():
    from llmeter_core.spec import load_spec

    example = Path(__file__).resolve().parents[2] / "examples" / "anthropic-synthetic.yaml"
    runner = load_spec(example).runner(output_path=None)
    assert len(runner.payloads) == 200 and all(p["max_tokens"] == 256 for p in runner.payloads)
    assert {type(c).__name__ for c in runner.callbacks} == {"SyntheticLengths", "CostModel"}
