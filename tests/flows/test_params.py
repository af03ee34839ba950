"""Flow parameters: every problem reported at once, before any request is sent."""

import pytest
from pydantic import ValidationError

from flows.params import SuiteSpec, SweepConfig, check_plan, endpoint_label, expand_env, load_suite, parse_suite
from llmeter_core.errors import ConfigError
from llmeter_core.spec import validation_problems

ENDPOINT = {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:9/v1"}
PLAN = {"payloads": {"prompts": ["hi"]}, "load": {"n_requests": 2}}


def test_sweep_defaults_and_descriptions_for_the_ui_form():
    config = SweepConfig(endpoint=ENDPOINT, **PLAN)
    assert config.clients == [1, 2, 4, 8] and config.name == "sweep" and config.results is None
    schema = SweepConfig.model_json_schema()
    described = {name for name, prop in schema["properties"].items() if prop.get("description")}
    assert described == set(schema["properties"])


def test_every_field_error_is_listed():
    with pytest.raises(ValidationError) as caught:
        SweepConfig(
            name="bad name!",
            endpoint={"type": "openai-chat"},
            payloads={"prompts": []},
            load={"clients": 0, "n_requests": 1},
            clients=[0],
        )
    locations = {field for field, _ in validation_problems(caught.value).items}  # the typed endpoint's tag left out
    assert {"name", "endpoint.model", "payloads.prompts", "load.clients", "clients[0]"} <= locations


def test_check_plan_lists_every_endpoint_problem_without_sending():
    suite = SuiteSpec(
        endpoints=[
            {"type": "openai-chat", "model": "a", "base_url": "not-a-url"},
            {"type": "openai-chat", "model": "b", "base_url": "http://127.0.0.1:9/v1", "colour": "red"},
            {"type": "no-such-type", "model": "c"},
            ENDPOINT,
        ],
        **PLAN,
    )
    with pytest.raises(ConfigError) as caught:
        check_plan(suite)
    message = str(caught.value)
    assert "endpoints[0].base_url" in message
    assert "endpoints[1].colour" in message
    assert "endpoints[2].type" in message
    assert "endpoints[3]" not in message


def test_check_plan_reports_an_unreadable_payload_file(tmp_path):
    bad = tmp_path / "p.jsonl"
    bad.write_text("{not json\n")
    config = SweepConfig(endpoint=ENDPOINT, payloads={"file": str(bad)}, load={"n_requests": 1})
    with pytest.raises(ConfigError, match="payloads"):
        check_plan(config)


def test_duplicate_labels_are_refused():
    with pytest.raises(ValidationError, match="share the label"):
        SuiteSpec(endpoints=[ENDPOINT, ENDPOINT], **PLAN)
    named = {**ENDPOINT, "endpoint_name": "second"}
    suite = SuiteSpec(endpoints=[ENDPOINT, named], **PLAN)
    assert [endpoint_label(e) for e in suite.endpoints] == ["m", "second"]


def test_env_expansion(monkeypatch):
    monkeypatch.setenv("EMU", "http://127.0.0.1:1234/v1")
    monkeypatch.delenv("MISSING", raising=False)
    assert expand_env({"a": ["${EMU}", "${MISSING:-x}"], "n": 3}) == {"a": ["http://127.0.0.1:1234/v1", "x"], "n": 3}
    with pytest.raises(ConfigError, match="MISSING"):
        expand_env("${MISSING}")


def test_suite_file_errors_name_the_field_and_payload_files_resolve(tmp_path):
    (tmp_path / "payloads.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: s\nendpoints: [{type: openai-chat, model: m, base_url: 'http://127.0.0.1:9/v1'}]\n"
        "payloads: {file: payloads.jsonl}\nload: {run_duration: 1}\n"
    )
    suite = load_suite(path)
    assert suite.payloads.file == str(tmp_path / "payloads.jsonl")
    with pytest.raises(ConfigError) as caught:
        parse_suite({"name": "s", "endpoints": [], "payloads": {"prompts": ["x"]}, "load": {"clients": -1}})
    assert "endpoints" in str(caught.value) and "load.clients" in str(caught.value)


# -- issue 7: limits, strict types, every problem at once, ${VAR} in endpoint options ------------
def test_a_suite_load_clients_is_one_run_alone_and_refused_beside_a_list_never_ignored():
    alone = SuiteSpec(endpoints=[ENDPOINT], payloads={"prompts": ["hi"]}, load={"n_requests": 2, "clients": 16})
    assert alone.load_points() == [("clients", 16)]
    with pytest.raises(ValidationError) as caught:
        SuiteSpec(
            endpoints=[ENDPOINT], payloads={"prompts": ["hi"]}, load={"n_requests": 2, "clients": 16}, clients=[1, 2]
        )
    (error,) = caught.value.errors()
    assert error["loc"] == ("load", "clients") and "would be ignored" in error["msg"]
    assert "clients" not in SuiteSpec.model_json_schema()["$defs"]["SweepLoad"]["properties"]


def test_a_sweep_runs_with_the_clients_of_its_list():
    config = SweepConfig(endpoint=ENDPOINT, clients=[3], **PLAN)
    again = SweepConfig(**config.model_dump())  # flows rebuild configs from dumps
    assert again.load == config.load
    from flows.params import run_spec

    spec = run_spec(again, again.endpoint, 3, output="o", run_name="r")
    assert spec.load.clients == 3 and spec.load.n_requests == 2


@pytest.mark.parametrize(
    "field, value",
    [
        ("clients", [True]),
        ("clients", [2.0]),
        ("clients", [100_000]),
        ("concurrent", "yes"),
        ("live_interval", float("inf")),
        ("seed", "1"),
    ],
)
def test_suite_fields_are_strict_and_bounded(field, value):
    with pytest.raises(ValidationError) as caught:
        SuiteSpec(endpoints=[ENDPOINT], **PLAN, **{field: value})
    assert {e["loc"][0] for e in caught.value.errors()} == {field}


def test_parse_suite_reports_every_problem_at_once(tmp_path, monkeypatch):
    monkeypatch.delenv("SUITE_TEST_UNSET", raising=False)
    data = {
        "name": "s",
        "results": "${SUITE_TEST_UNSET}",
        "endpoints": [
            {**ENDPOINT, "stream": "maybe", "colour": "red"},
            {"type": "openai-chat", "model": "b", "base_url": "http://127.0.0.1:9/v1", "max_connections": -1},
        ],
        "payloads": {"file": "missing.jsonl"},
        "load": {"n_requests": 0, "run_duration": 5, "tiemout": 1},
    }
    with pytest.raises(ConfigError) as caught:
        parse_suite(data, base_dir=tmp_path)
    fields = [field for field, _ in caught.value.problems]
    assert fields == [
        "results",
        "load.n_requests",
        "load.tiemout",
        "load",
        "endpoints[0].colour",
        "endpoints[0].stream",
        "payloads.file",
        "endpoints[1].max_connections",
    ], str(caught.value)


def test_check_plan_steps_over_each_bad_option_of_an_endpoint():
    suite = SuiteSpec(endpoints=[{**ENDPOINT, "http_client": "curl", "max_connections": -1, "extra_body": "x"}], **PLAN)
    with pytest.raises(ConfigError) as caught:
        check_plan(suite)
    assert [f for f, _ in caught.value.problems] == [
        "endpoints[0].extra_body",
        "endpoints[0].http_client",
        "endpoints[0].max_connections",
    ], str(caught.value)


def test_endpoint_options_keep_their_env_references_until_built(monkeypatch):
    monkeypatch.setenv("SUITE_TEST_TOKEN", "tok-fake-0002")
    monkeypatch.setenv("SUITE_TEST_MODEL", "model-from-env")
    suite = parse_suite(
        {
            "endpoints": [
                {
                    "type": "openai-chat",
                    "model": "${SUITE_TEST_MODEL}",
                    "base_url": "http://127.0.0.1:9/v1",
                    "headers": {"Authorization": "Bearer ${SUITE_TEST_TOKEN}"},
                }
            ],
            **PLAN,
        }
    )
    (endpoint,) = suite.endpoints
    assert endpoint.model_id == "model-from-env"  # names runs and folders: expanded when read
    assert "tok-fake-0002" not in suite.model_dump_json()
    assert endpoint.options()["headers"] == {"Authorization": "Bearer ${SUITE_TEST_TOKEN}"}
    assert endpoint.build().headers == {"Authorization": "Bearer tok-fake-0002"}
    monkeypatch.delenv("SUITE_TEST_TOKEN")
    with pytest.raises(ConfigError) as caught:
        check_plan(suite)
    assert caught.value.field == "endpoints[0].headers" and "SUITE_TEST_TOKEN" in str(caught.value)
