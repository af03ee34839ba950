"""The latency model, config validation and fault picking: pure, no server."""

from __future__ import annotations

import random
import statistics

import pytest

from llmeter_core.emulator.config import EmulatorConfig, parse_dist
from llmeter_core.emulator.faults import FaultPicker
from llmeter_core.emulator.latency import Schedule, plan_schedule, sample
from llmeter_core.errors import ConfigError


def test_fixed_values_are_returned_as_is():
    assert sample(100, random.Random(0)) == 100.0
    assert sample({"dist": "fixed", "value": 7}, random.Random(0)) == 7.0


@pytest.mark.parametrize(
    "spec, mean, tolerance",
    [
        ({"dist": "normal", "mean": 100, "std": 10}, 100, 2),
        ({"dist": "uniform", "low": 50, "high": 150}, 100, 4),
        ({"dist": "lognormal", "median": 100, "sigma": 0.1}, 100.5, 2),
    ],
)
def test_distributions_have_the_configured_centre_and_are_seeded(spec, mean, tolerance):
    first, second = random.Random(1), random.Random(1)
    assert [sample(spec, first) for _ in range(5)] == [sample(spec, second) for _ in range(5)]
    rng = random.Random(3)
    values = [sample(spec, rng) for _ in range(2000)]
    assert abs(statistics.fmean(values) - mean) < tolerance
    assert min(values) >= 0


def test_uniform_stays_within_bounds_and_clips_apply():
    rng = random.Random(0)
    values = [sample({"dist": "uniform", "low": 10, "high": 20}, rng) for _ in range(500)]
    assert 10 <= min(values) and max(values) <= 20
    clipped = [sample({"dist": "normal", "mean": 0, "std": 50, "min": 5, "max": 6}, rng) for _ in range(200)]
    assert all(5 <= v <= 6 for v in clipped)
    assert 5.0 in clipped and 6.0 in clipped


def test_normal_is_clipped_at_zero():
    rng = random.Random(0)
    assert min(sample({"dist": "normal", "mean": 1, "std": 100}, rng) for _ in range(200)) == 0.0


def test_schedule_token_times_are_offsets_from_start():
    schedule = Schedule(ttft_s=0.1, itl_s=0.01, n_tokens=5, truncated=False)
    assert [round(schedule.due(i), 6) for i in range(5)] == [0.1, 0.11, 0.12, 0.13, 0.14]


def test_plan_schedule_caps_output_at_max_tokens():
    config = EmulatorConfig(ttft_ms=100, itl_ms=10, output_tokens=20)
    capped = plan_schedule(config, random.Random(0), max_tokens=5)
    assert (capped.n_tokens, capped.truncated) == (5, True)
    exact = plan_schedule(config, random.Random(0), max_tokens=20)
    assert (exact.n_tokens, exact.truncated) == (20, False)
    free = plan_schedule(config, random.Random(0), max_tokens=None)
    assert (free.ttft_s, free.itl_s, free.n_tokens) == (0.1, 0.01, 20)


def test_slow_first_byte_adds_to_ttft():
    config = EmulatorConfig(ttft_ms=100, itl_ms=10, output_tokens=3)
    schedule = plan_schedule(config, random.Random(0), None, first_byte_s=0.5)
    assert schedule.ttft_s == pytest.approx(0.6)
    assert schedule.first_byte_s == 0.5


def test_at_least_one_token_is_served():
    config = EmulatorConfig(output_tokens=0)
    assert plan_schedule(config, random.Random(0), None).n_tokens == 1
    assert plan_schedule(EmulatorConfig(), random.Random(0), 0).n_tokens == 1


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"ttft_ms": -1}, "ttft_ms"),
        ({"itl_ms": {"dist": "gamma"}}, "itl_ms"),
        ({"output_tokens": {"dist": "normal", "mean": 10}}, "output_tokens.std"),
        ({"ttft_ms": {"dist": "uniform", "low": 5, "high": 1}}, "ttft_ms"),
        ({"ttft_ms": {"dist": "fixed", "value": 1, "extra": 2}}, "ttft_ms"),
        ({"rate_429": 1.5}, "rate_429"),
        ({"rate_429": 0.6, "rate_500": 0.6}, "rate_429"),
        ({"disconnect_mode": "explode"}, "disconnect_mode"),
        ({"cached_tokens": -3}, "cached_tokens"),
        ({"cache_write_tokens": -1}, "cache_write_tokens"),
    ],
)
def test_bad_config_names_the_field(kwargs, field):
    with pytest.raises(ConfigError) as info:
        EmulatorConfig(**kwargs)
    assert info.value.field == field


def test_from_dict_rejects_unknown_keys_and_round_trips():
    config = EmulatorConfig(ttft_ms={"dist": "normal", "mean": 5, "std": 1}, seed=3)
    assert EmulatorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ConfigError) as info:
        EmulatorConfig.from_dict({"ttft": 3})
    assert info.value.field == "ttft"


def test_parse_dist_reads_numbers_and_json():
    assert parse_dist("100") == 100.0
    assert parse_dist('{"dist": "uniform", "low": 1, "high": 2}') == {"dist": "uniform", "low": 1, "high": 2}
    with pytest.raises(ConfigError):
        parse_dist("fast")


def test_fault_picker_honours_rates_and_seed():
    config = EmulatorConfig(rate_429=0.1, rate_500=0.2, rate_disconnect=0.05, rate_slow_first_byte=0.15)
    picker = FaultPicker(config)
    rng = random.Random(42)
    picks = [picker.pick(rng) for _ in range(20000)]
    for kind, rate in (("429", 0.1), ("500", 0.2), ("disconnect", 0.05), ("slow_first_byte", 0.15)):
        assert abs(picks.count(kind) / len(picks) - rate) < 0.015, kind
    assert abs(picks.count(None) / len(picks) - 0.5) < 0.015
    rng_again = random.Random(42)
    assert [picker.pick(rng_again) for _ in range(100)] == picks[:100]


def test_fault_picker_without_faults_draws_nothing():
    rng = random.Random(0)
    state = rng.getstate()
    assert FaultPicker(EmulatorConfig()).pick(rng) is None
    assert rng.getstate() == state
