"""Flow parameters: every problem reported at once, before any request is sent."""

import pytest
from pydantic import ValidationError

from flows.params import SuiteSpec, SweepConfig, check_plan, endpoint_label, expand_env, load_suite, parse_suite
from llmeter_core.errors import ConfigError

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
        SweepConfig(name="bad name!", endpoint={"type": "openai-chat"}, payloads={"prompts": []},
                    load={"clients": 0, "n_requests": 1}, clients=[0])
    locations = {".".join(map(str, e["loc"])) for e in caught.value.errors()}
    assert {"name", "endpoint.model", "payloads.prompts", "load.clients", "clients.0"} <= locations


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
    path.write_text("name: s\nendpoints: [{type: openai-chat, model: m, base_url: 'http://127.0.0.1:9/v1'}]\n"
                    "payloads: {file: payloads.jsonl}\nload: {run_duration: 1}\n")
    suite = load_suite(path)
    assert suite.payloads.file == str(tmp_path / "payloads.jsonl")
    with pytest.raises(ConfigError) as caught:
        parse_suite({"name": "s", "endpoints": [], "payloads": {"prompts": ["x"]}, "load": {"clients": -1}})
    assert "endpoints" in str(caught.value) and "load.clients" in str(caught.value)
