"""Python API option checks (issue 7, items 11, 13, 15): limits, strict types, a missing
optional package; every refusal is a ConfigError naming the option, before anything is sent."""

from __future__ import annotations

import sys
from datetime import timedelta

import pytest

from llmeter_core import ConfigError, Runner, create_endpoint
from llmeter_core.checks import MAX_CLIENTS, MAX_REQUESTS_PER_CLIENT
from llmeter_core.endpoints.litellm_endpoint import LiteLLMEndpoint
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from tests.fakes import FakeEndpoint

PAYLOAD = {"prompt": "hi"}
URL = "http://127.0.0.1:9/v1"


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"n_requests": 1, "clients": 1_000_000_000_000}, "clients"),
        ({"n_requests": 1, "clients": MAX_CLIENTS + 1}, "clients"),
        ({"n_requests": 1e30}, "n_requests"),
        ({"n_requests": 10**30}, "n_requests"),
        ({"n_requests": MAX_REQUESTS_PER_CLIENT + 1}, "n_requests"),
        ({"run_duration": float("inf")}, "run_duration"),
        ({"run_duration": float("nan")}, "run_duration"),
        ({"run_duration": timedelta(days=8)}, "run_duration"),
        ({"n_requests": 1, "timeout": float("inf")}, "timeout"),
        ({"n_requests": 1, "grace_period": float("inf")}, "grace_period"),
        ({"n_requests": 1, "live_interval": float("inf")}, "live_interval"),
        ({"n_requests": 1, "live_interval": 1e-9}, "live_interval"),
        ({"n_requests": 1, "warmup_requests": 10**12}, "warmup_requests"),
        ({"n_requests": 1, "seed": 2**64}, "seed"),
    ],
)
def test_limits_are_refused_before_anything_is_sent(kwargs, field):
    endpoint = FakeEndpoint()
    with pytest.raises(ConfigError) as info:
        Runner(endpoint, PAYLOAD, **kwargs)
    assert info.value.field == field and "\n" not in str(info.value), str(info.value)
    assert endpoint.calls == 0


def test_the_largest_allowed_values_are_accepted():
    runner = Runner(
        FakeEndpoint(),
        PAYLOAD,
        clients=MAX_CLIENTS,
        run_duration=timedelta(days=7),
        timeout=86_400,
        grace_period=86_400,
        live_interval=86_400,
    )
    assert runner.clients == MAX_CLIENTS and runner.run_duration == 7 * 86_400


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"clients": True}, "clients"),
        ({"clients": 2.0}, "clients"),
        ({"low_memory": "no"}, "low_memory"),
        ({"display": 1}, "display"),
        ({"handle_signals": "false"}, "handle_signals"),
        ({"live_sinks": [1]}, "live_sinks"),
        ({"live_sinks": print}, "live_sinks"),
        ({"timeout": "60"}, "timeout"),
        ({"output_path": 5}, "output_path"),
        ({"run_description": ["x"]}, "run_description"),
    ],
)
def test_runner_options_of_the_wrong_type_are_refused(kwargs, field):
    with pytest.raises(ConfigError) as info:
        Runner(FakeEndpoint(), PAYLOAD, **{"n_requests": 1, **kwargs})
    assert info.value.field == field, str(info.value)


def test_every_runner_problem_is_listed_at_once():
    with pytest.raises(ConfigError) as info:
        Runner(FakeEndpoint(), PAYLOAD, clients=0, n_requests=1, run_duration=1, timeout=float("inf"), end_mode="stop")
    assert [f for f, _ in info.value.problems] == ["clients", "n_requests", "timeout", "end_mode"]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"api_key": 123}, "endpoint.api_key"),
        ({"stream": "maybe"}, "endpoint.stream"),
        ({"headers": {"Authorization": 42}}, "endpoint.headers"),
        ({"headers": ["Authorization: x"]}, "endpoint.headers"),
        ({"max_connections": True}, "endpoint.max_connections"),
        ({"extra_body": "temperature=0"}, "endpoint.extra_body"),
    ],
)
def test_endpoint_options_of_the_wrong_type_are_refused(kwargs, field):
    with pytest.raises(ConfigError) as info:
        OpenAIChatEndpoint("m", URL, **kwargs)
    assert info.value.field == field, str(info.value)
    assert "42" not in str(info.value) and "123" not in str(info.value)  # credentials are not echoed


def test_every_endpoint_type_checks_its_options():
    for type_name, options in [
        ("bedrock-converse", {"region": 5}),
        ("bedrock-invoke", {"output_format": 1}),
        ("sagemaker", {"target_variant": 3}),
        ("litellm", {"stream": "yes"}),
    ]:
        with pytest.raises(ConfigError) as info:
            create_endpoint(type_name, model_id="meta.llama3-8b-instruct-v1:0", **options)
        assert info.value.field == f"endpoint.{next(iter(options))}", str(info.value)


def test_a_missing_optional_package_is_refused_when_the_runner_is_built(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "litellm", None)  # makes LiteLLM not importable
    with pytest.raises(ConfigError, match=r"pip install 'llmeter-flows\[litellm\]'") as info:
        Runner(LiteLLMEndpoint("openai/m"), PAYLOAD, n_requests=1, output_path=str(tmp_path), run_name="r")
    assert info.value.field == "endpoint.type"
    assert list(tmp_path.iterdir()) == []
