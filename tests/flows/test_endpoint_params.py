"""Each endpoint type has its own typed form in the Prefect UI (issue 13, item 1)."""

from __future__ import annotations

import inspect

import pytest

from flows.endpoint_params import OPTION_HELP, endpoint_models
from flows.params import SuiteSpec, SweepConfig, check_plan
from flows.sweep import load_test_sweep
from llmeter_core.endpoints import ENDPOINT_TYPES, accepted_parameters, endpoint_class
from llmeter_core.errors import ConfigError
from llmeter_core.spec import EndpointSpec

PLAN = {"payloads": {"prompts": ["hi"]}, "load": {"n_requests": 2}}


def _endpoint_schema(schema: dict) -> dict[str, dict]:
    """The endpoint choices of a flow's parameter schema, by their type."""
    defs = schema["definitions"] if "definitions" in schema else schema["$defs"]
    choices = defs["SweepConfig"]["properties"]["endpoint"]["anyOf"]
    return {(d := defs[c["$ref"].rsplit("/", 1)[-1]])["properties"]["type"]["const"]: d for c in choices}


def test_the_deployment_form_shows_each_types_own_options():
    by_type = _endpoint_schema(load_test_sweep.parameters.model_dump())
    assert set(by_type) == set(ENDPOINT_TYPES)
    chat = by_type["openai-chat"]["properties"]
    assert chat["base_url"]["type"] == "string" and "base_url" in by_type["openai-chat"]["required"]
    assert chat["stream"] == {
        "default": True,
        "description": OPTION_HELP["stream"],
        "title": "Stream",
        "type": "boolean",
    }
    assert chat["http_client"]["enum"] == ["direct", "aiohttp"]
    bedrock = by_type["bedrock-converse-stream"]["properties"]
    assert {"region", "endpoint_url", "max_attempts", "read_timeout"} <= set(bedrock) and "base_url" not in bedrock
    assert bedrock["max_attempts"]["default"] == 1
    for kind, schema in by_type.items():
        assert schema["title"] == kind
        for name, prop in schema["properties"].items():
            assert prop.get("description") and "``" not in prop["description"], (kind, name)
        assert "api_key" not in schema["properties"] and "provider" not in schema["properties"]


@pytest.mark.parametrize("kind", sorted(ENDPOINT_TYPES))
def test_the_fields_are_the_endpoint_classs_own_options(kind):
    """Generated from the class's signature: a new option appears in the form by itself."""
    model = endpoint_models()[kind]
    params = accepted_parameters(endpoint_class(kind))
    options = set(model.model_fields) - set(EndpointSpec.model_fields)
    assert options == set(params) - {"model_id", "provider", "api_key"}
    for name in options:
        default = params[name].default
        assert model.model_fields[name].is_required() == (default is inspect.Parameter.empty)
        if default is not inspect.Parameter.empty:
            assert model.model_fields[name].default == default


def test_typed_endpoints_pass_only_what_was_given_and_the_class_still_checks_it():
    sweep = SweepConfig(endpoint={"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:9/v1"}, **PLAN)
    assert type(sweep.endpoint).__name__ == "OpenaiChatEndpoint"
    assert sweep.endpoint.options() == {"base_url": "http://127.0.0.1:9/v1"}
    assert sweep.endpoint.build().stream is True
    suite = SuiteSpec(
        endpoints=[
            {"type": "openai-chat", "model": "a", "base_url": "http://127.0.0.1:9/v1", "stream": "maybe"},
            {"type": "bedrock-converse", "model": "b", "region": "us-east-1", "max_attempts": 0},
            {"type": "no-such-type", "model": "c"},
        ],
        **PLAN,
    )
    assert type(suite.endpoints[2]) is EndpointSpec
    with pytest.raises(ConfigError) as caught:
        check_plan(suite)
    fields = [field for field, _ in caught.value.problems]
    assert fields == ["endpoints[0].stream", "endpoints[1].max_attempts", "endpoints[2].type"], str(caught.value)


def test_the_form_reads_as_a_user_expects():
    """Endpoint first, as a choice both UI pages render; section titles, not class names;
    internal flow parameters hidden; no reStructuredText in help texts."""
    from flows.model_sweep import model_sweep

    schema = load_test_sweep.parameters.model_dump()
    assert list(schema["properties"]) == ["sweep"]  # folder and label are set by model_sweep only
    sweep = schema["definitions"]["SweepConfig"]
    assert list(sweep["properties"])[0] == "endpoint" and "anyOf" in sweep["properties"]["endpoint"]
    assert {n: sweep["properties"][n]["title"] for n in ("endpoint", "payloads", "load")} == {
        "endpoint": "Endpoint",
        "payloads": "Payloads",
        "load": "Load",
    }
    assert "clients" not in schema["definitions"]["SweepLoad"]["properties"]  # the `clients` list replaces it
    assert list(schema["definitions"]["OpenaiChatEndpoint"]["properties"])[-1] == "pricing"
    suite = model_sweep.parameters.model_dump()
    assert list(suite["properties"]) == ["suite"]
    assert list(suite["definitions"]["SuiteSpec"]["properties"])[0] == "endpoints"
    for flow_schema in (schema, suite):
        for definition in flow_schema["definitions"].values():
            for prop in definition.get("properties", {}).values():
                assert "``" not in prop.get("description", "")
