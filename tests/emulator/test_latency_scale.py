"""``latency_scale``: one emulator setting that makes a "night" slower or faster on purpose."""

from __future__ import annotations

import random

import httpx
import pytest

from llmeter_core.emulator import EmulatorThread
from llmeter_core.emulator.config import EmulatorConfig
from llmeter_core.emulator.latency import plan_schedule
from llmeter_core.errors import ConfigError

from .test_emulator_cli import launch


def test_scale_multiplies_both_latencies_and_keeps_the_draws():
    spec = {"dist": "lognormal", "median": 100, "sigma": 0.3}
    plain = EmulatorConfig(ttft_ms=spec, itl_ms=spec, output_tokens=20)
    slower = EmulatorConfig(ttft_ms=spec, itl_ms=spec, output_tokens=20, latency_scale=1.2)
    a, b = random.Random(5), random.Random(5)
    for _ in range(50):
        base, scaled = plan_schedule(plain, a, None), plan_schedule(slower, b, None)
        assert scaled.ttft_s == pytest.approx(base.ttft_s * 1.2)
        assert scaled.itl_s == pytest.approx(base.itl_s * 1.2)
        assert scaled.n_tokens == base.n_tokens


def test_slow_first_byte_is_not_scaled():
    config = EmulatorConfig(ttft_ms=100, itl_ms=10, latency_scale=2.0)
    schedule = plan_schedule(config, random.Random(0), None, first_byte_s=1.0)
    assert schedule.ttft_s == pytest.approx(0.2 + 1.0)


@pytest.mark.parametrize("bad", [0, -1.0, "1.2", True, float("inf")])
def test_a_bad_scale_is_a_config_error_naming_the_field(bad):
    with pytest.raises(ConfigError, match="latency_scale"):
        EmulatorConfig(latency_scale=bad)


def test_served_ttft_follows_the_scale():
    with EmulatorThread("openai", ttft_ms=40, itl_ms=1, output_tokens=2, latency_scale=1.5) as emulator:
        reply = httpx.post(
            emulator.url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=10
        ).json()
        truth = emulator.request_truth(reply["id"])
    assert truth["ttft_ms"] == pytest.approx(60.0)
    assert truth["itl_ms"] == pytest.approx(1.5)


def test_cli_flag_sets_the_scale():
    with launch("openai", "--ttft-ms", "0", "--latency-scale", "1.25") as (process, url):
        try:
            assert httpx.get(url + "/emulator/stats", timeout=10).json()["config"]["latency_scale"] == 1.25
        finally:
            process.terminate()
            assert process.wait(timeout=10) == 0
