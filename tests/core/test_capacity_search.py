"""The capacity search's rules without any run: growth, bisection, repeats, stops, answers."""

from __future__ import annotations

import pytest

from llmeter_core.capacity import CapacitySearch, CapacitySpec, Probe, judge


def _search(capacity: float, mode="rate", noise=None, client_bound_at=None, **settings):
    """Drive a search against a model endpoint that passes every load <= ``capacity``."""
    search = CapacitySearch(CapacitySpec(**settings), mode=mode, target=0.9)
    elapsed = 0.0
    while (load := search.next_load(elapsed)) is not None:
        attainment = 1.0 if load <= capacity else 0.5
        if noise is not None:
            attainment = noise(load, len(search.probes))
        bound = client_bound_at is not None and load >= client_bound_at
        search.record(Probe(load=load, passed=attainment >= 0.9, attainment=attainment, client_bound=bound, seconds=2))
        elapsed += 2
    return search, search.outcome()


def test_growth_then_bisection_brackets_the_capacity_within_the_precision():
    search, out = _search(37.0, start=1, max_load=1000)
    assert out.status == "found"
    assert out.highest_pass <= 37.0 < out.lowest_fail
    assert out.lowest_fail / out.highest_pass - 1 <= 0.10
    loads = [p.load for p in out.probes]
    assert loads[:7] == [1, 2, 4, 8, 16, 32, 64]  # growth by 2 until the first fail
    assert all(lo < x < hi for x, lo, hi in zip(loads[7:], [32] * 9, [64] * 9, strict=False))  # bisection inside
    assert out.answer.startswith(f"{out.highest_pass:g} req/s (bracket [")
    assert len(loads) <= 10


def test_client_search_ends_on_neighbouring_whole_numbers():
    _, out = _search(4.0, mode="clients", start=1, max_load=64)
    assert (out.status, out.highest_pass, out.lowest_fail) == ("found", 4.0, 5.0)
    assert all(float(p.load).is_integer() for p in out.probes)
    assert "4 clients" in out.answer


def test_every_probe_passing_up_to_the_ceiling_says_at_least():
    _, out = _search(1e9, start=5, max_load=40)
    assert out.status == "at_least" and out.capacity == 40 and out.lowest_fail is None
    assert out.answer == "at least 40 req/s"
    assert [p.load for p in out.probes] == [5, 10, 20, 40]


def test_a_first_probe_that_fails_says_below():
    _, out = _search(0.5, start=2, max_load=40)
    assert out.status == "below" and out.capacity is None and out.lowest_fail == 2
    assert out.answer == "below 2 req/s" and len(out.probes) == 1


def test_a_client_bound_probe_ends_the_search_with_that_reason():
    _, out = _search(100.0, start=1, max_load=1000, client_bound_at=16)
    assert out.status == "client_bound"
    assert [p.load for p in out.probes] == [1, 2, 4, 8, 16]
    assert out.answer == "at least 8 req/s" and "load generator" in out.reason and "shards" in out.reason


def test_a_pass_near_the_target_is_repeated_and_one_failed_repeat_fails_the_load():
    def noisy(load, index):
        if load == 32:  # passes once near the boundary, then fails its repeat
            return 0.92 if index == 5 else 0.85
        return 1.0 if load < 32 else 0.5

    _, out = _search(0, noise=noisy, start=1, max_load=1000)
    at_32 = [p for p in out.probes if p.load == 32]
    assert len(at_32) == 2 and [p.passed for p in at_32] == [True, False]
    assert out.highest_pass < 32 <= out.lowest_fail


def test_a_clear_pass_is_not_repeated():
    _, out = _search(37.0, start=1, max_load=1000)
    assert len({p.load for p in out.probes}) == len(out.probes)


def test_the_budget_stops_the_search_with_the_bracket_so_far():
    _, out = _search(37.0, start=1, max_load=1000, max_probes=8)
    assert out.status == "budget" and len(out.probes) == 8
    assert out.highest_pass == 32 and out.lowest_fail is not None and "bracket" in out.answer
    _, timed = _search(37.0, start=1, max_load=1000, max_seconds=7)
    assert timed.status == "budget" and len(timed.probes) == 3 and timed.answer == "at least 4 req/s"


def test_judge_fails_a_saturated_rate_probe_whatever_its_latencies():
    settings = CapacitySpec()
    ok = {"slo_passed": True, "slo_attainment": 1.0, "offered_rate": 40.0, "achieved_rate": 39.5}
    assert judge(40, ok, settings, "rate").passed
    probe = judge(40, {**ok, "achieved_rate": 30.0}, settings, "rate")
    assert not probe.passed and probe.saturated and "saturated" in probe.reason
    measured = judge(
        40, {**ok, "slo_observed_ttft_ms": 120.0, "time_to_first_token_from_schedule-p99": 0.2}, settings, "rate"
    )
    assert measured.metrics["slo_observed_ttft_ms"] == 120.0
    assert measured.metrics["time_to_first_token_from_schedule-p99"] == 0.2
    bound = judge(40, {**ok, "client_bound": True, "client_bound_reason": "event_loop_lag"}, settings, "rate")
    assert bound.client_bound and "client-bound" in bound.reason


@pytest.mark.parametrize("mode", ["rate", "clients"])
def test_a_start_above_the_ceiling_is_a_problem_named_by_field(mode):
    assert CapacitySpec(start=50, max_load=10).problems(mode)[0][0] == "capacity.start"
    assert CapacitySpec(start=5, max_load=10).problems(mode) == []


def test_client_counts_must_be_whole_and_loads_within_one_process():
    assert CapacitySpec(start=2.5).problems("clients") == [
        ("capacity.start", "search: clients takes whole client counts, got 2.5")
    ]
    assert CapacitySpec(start=2.5).problems("rate") == []
    (problem,) = CapacitySpec(max_load=1e6).problems("rate")
    assert problem[0] == "capacity.max_load" and "at most 100,000 req/s" in problem[1]
