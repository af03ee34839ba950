"""Open-loop schedules: seeded, absolute, and the asked arrival process."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from llmeter_core.schedule import BLOCK, Schedule


def gaps_s(schedule: Schedule) -> np.ndarray:
    return np.diff(schedule.offsets()) / 1e9


def test_constant_rate_is_evenly_spaced_from_zero():
    offsets = Schedule(rate=50, n_requests=5).offsets()
    assert offsets.tolist() == [0, 20_000_000, 40_000_000, 60_000_000, 80_000_000]


def test_same_seed_same_offsets_and_other_seed_differs():
    a = Schedule(rate=100, arrival="poisson", seed=3, n_requests=10_000).offsets()
    b = Schedule(rate=100, arrival="poisson", seed=3, n_requests=10_000).offsets()
    c = Schedule(rate=100, arrival="poisson", seed=4, n_requests=10_000).offsets()
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_duration_bound_reads_the_same_prefix_as_a_count_bound():
    by_count = Schedule(rate=900, arrival="poisson", seed=1, n_requests=3 * BLOCK).offsets()
    by_time = Schedule(rate=900, arrival="poisson", seed=1, duration_s=10).offsets()
    assert 2 * BLOCK < by_time.size < 3 * BLOCK  # crosses block boundaries
    assert np.array_equal(by_time, by_count[: by_time.size])
    assert by_time[-1] < 10e9 <= by_count[by_time.size]


def test_poisson_gaps_pass_a_kolmogorov_smirnov_test():
    rate = 40.0
    gaps = gaps_s(Schedule(rate=rate, arrival="poisson", seed=11, n_requests=5000))
    result = scipy_stats.kstest(gaps, "expon", args=(0, 1 / rate))
    assert result.pvalue > 0.01
    # and a constant schedule fails the same test (the test can fail)
    constant = gaps_s(Schedule(rate=rate, n_requests=5000)) + 1e-9
    assert scipy_stats.kstest(constant, "expon", args=(0, 1 / rate)).pvalue < 1e-6


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_coefficient_of_variation(burstiness):
    gaps = gaps_s(Schedule(rate=20, arrival="gamma", burstiness=burstiness, seed=5, n_requests=40_000))
    cv = gaps.std() / gaps.mean()
    assert cv == pytest.approx(1 / np.sqrt(burstiness), rel=0.05)
    assert gaps.mean() == pytest.approx(1 / 20, rel=0.05)


def test_ramp_cumulative_sends_follow_the_ramp():
    rate, ramp = 100.0, 4.0
    offsets = Schedule(rate=rate, ramp_up_s=ramp, duration_s=8).offsets() / 1e9
    for t in (1.0, 2.0, 3.0, 4.0, 6.0, 8.0):
        expected = rate * t * t / (2 * ramp) if t <= ramp else rate * ramp / 2 + rate * (t - ramp)
        assert np.searchsorted(offsets, t) == pytest.approx(expected, abs=1.5)


def test_shards_deal_out_one_schedule_exactly():
    whole = Schedule(rate=3000, arrival="poisson", seed=2, n_requests=3 * BLOCK + 17)
    parts = [np.concatenate(list(whole.shard(k, 3))) for k in range(3)]
    merged = np.sort(np.concatenate(parts))
    assert np.array_equal(merged, whole.offsets())
    assert [p.size for p in parts] == [BLOCK + 6, BLOCK + 6, BLOCK + 5]


@pytest.mark.parametrize(
    "kwargs, text",
    [
        ({"rate": 0, "n_requests": 1}, "rate"),
        ({"rate": float("inf"), "n_requests": 1}, "rate"),
        ({"rate": 1, "arrival": "gamma", "n_requests": 1}, "burstiness"),
        ({"rate": 1, "burstiness": 2.0, "n_requests": 1}, "burstiness"),
        ({"rate": 1, "arrival": "uniform", "n_requests": 1}, "arrival"),
        ({"rate": 1}, "n_requests or duration_s"),
    ],
)
def test_bad_schedules_are_refused(kwargs, text):
    with pytest.raises(ValueError, match=text):
        Schedule(**kwargs)
