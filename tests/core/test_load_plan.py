"""Load options: closed-loop clients or an open-loop rate, every problem at once."""

import pytest

from llmeter_core.errors import ConfigError
from llmeter_core.load_plan import LoadPlan


def build(**kwargs):
    options = dict(clients=None, rate=None, run_duration=5.0)
    options.update(kwargs)
    return LoadPlan.build(**options)


def test_neither_clients_nor_rate_is_one_client():
    plan = build()
    assert plan.clients == 1 and plan.schedule is None and plan.connections() == 1


def test_a_rate_run_counts_its_requests_in_all():
    plan = build(rate=20.0, n_requests=30, run_duration=None)
    assert plan.schedule is not None and plan.schedule.n_requests == 30 and plan.bound.expected_requests == 30
    assert plan.offered_rate() == 20.0 and plan.connections() == 20


def test_a_ramp_lowers_the_offered_rate_over_the_run():
    plan = build(rate=100.0, ramp_up=2.0, run_duration=4.0)
    assert plan.offered_rate() == pytest.approx(75.0)  # 100 req over the ramp's 2 s, then 200


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"rate": 10.0, "clients": 2}, "rate"),
        ({"rate": 10.0, "burstiness": 2.0}, "burstiness"),
        ({"rate": 10.0, "arrival": "gamma"}, "burstiness"),
        ({"rate": 10.0, "ramp_up": 9.0}, "ramp_up"),
        ({"rate": 10.0, "warmup_requests": 2}, "warmup_requests"),
        ({"rate": 0.0}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"rate": True}, "rate"),
        ({"rate": 10.0, "arrival": "uniform"}, "arrival"),
        ({"rate": 10.0, "max_concurrency": 0}, "max_concurrency"),
        ({"clients": 2, "max_concurrency": 3}, "max_concurrency"),
        ({"clients": 2, "arrival": "poisson"}, "arrival"),
        ({"clients": 2, "warmup_seconds": 1.0}, "warmup_seconds"),
    ],
)
def test_each_bad_combination_names_its_field(kwargs, field):
    with pytest.raises(ConfigError) as caught:
        build(**kwargs)
    assert caught.value.field == field, str(caught.value)


def test_every_problem_at_once():
    with pytest.raises(ConfigError) as caught:
        build(rate=10.0, clients=2, burstiness=1.0, ramp_up=60.0)
    text = str(caught.value)
    for needle in ("rate: give either clients", "burstiness: applies to arrival: gamma", "ramp_up: 60.0 s is longer"):
        assert needle in text
