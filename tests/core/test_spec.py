import pytest
import yaml

from llmeter_core import ConfigError
from llmeter_core.spec import load_spec, parse_spec

GOOD = {
    "run_name": "spec-run",
    "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1", "stream": True},
    "load": {"clients": 2, "n_requests": 3},
    "payloads": {"prompts": ["one two", "three"], "max_tokens": 8},
}


def with_(path, value):
    data = yaml.safe_load(yaml.safe_dump(GOOD))
    node = data
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    if value is None:
        node.pop(leaf)
    else:
        node[leaf] = value
    return data


def test_good_spec_builds_a_runner(tmp_path):
    spec = parse_spec(GOOD)
    runner = spec.runner(output_path=str(tmp_path))
    assert runner.clients == 2 and runner.n_requests == 3
    assert runner.endpoint.model_id == "m" and runner.endpoint.endpoint_type == "openai-chat"
    assert runner.payloads[0]["messages"][0]["content"] == "one two"
    assert runner.payloads[0]["max_tokens"] == 8


@pytest.mark.parametrize(
    "path, value, field",
    [
        ("load.clients", 0, "load.clients"),
        ("load.run_duration", 5, "load"),
        ("load.n_requests", None, "load"),
        ("load.end_mode", "later", "load.end_mode"),
        ("load.bogus", 1, "load.bogus"),
        ("endpoint.model", None, "endpoint.model"),
        ("payloads.prompts", [], "payloads.prompts"),
        ("payloads.file", "x.jsonl", "payloads"),
        ("endpoint.type", "nope", "endpoint.type"),
        ("endpoint.colour", "red", "endpoint.colour"),
    ],
)
def test_bad_fields_are_named(path, value, field):
    with pytest.raises(ConfigError) as info:
        parse_spec(with_(path, value)).runner()
    assert info.value.field == field, str(info.value)


def test_all_errors_are_listed_at_once():
    data = with_("load.clients", 0)
    data["load"]["timeout"] = -1
    with pytest.raises(ConfigError) as info:
        parse_spec(data)
    assert "load.clients" in str(info.value) and "load.timeout" in str(info.value)


def test_payload_file_is_relative_to_the_spec(tmp_path):
    (tmp_path / "p.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    data = with_("payloads.prompts", None)
    data["payloads"].pop("max_tokens")
    data["payloads"]["file"] = "p.jsonl"
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(data))
    runner = load_spec(tmp_path / "spec.yaml").runner()
    assert runner.payloads == [{"messages": [{"role": "user", "content": "hi"}]}]


def test_unreadable_files(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_spec(tmp_path / "none.yaml")
    (tmp_path / "bad.yaml").write_text("a: [")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(tmp_path / "bad.yaml")


def test_prompts_follow_the_endpoint_body_format_and_cache_buster():
    data = {
        "endpoint": {"type": "bedrock-invoke", "model": "meta.llama3-8b-instruct-v1:0", "region": "us-east-1"},
        "load": {"n_requests": 1},
        "payloads": {"prompts": ["hi there"], "max_tokens": 9},
        "cache_buster": True,
    }
    runner = parse_spec(data).runner()
    assert runner.payloads == [{"prompt": runner.payloads[0]["prompt"], "max_gen_len": 9}]
    assert "hi there" in runner.payloads[0]["prompt"]
    assert [type(c).__name__ for c in runner.callbacks] == ["CacheBuster"]


@pytest.mark.parametrize("secret", ["api_key", "aws_secret_access_key"])
def test_secrets_are_refused_in_specs(secret):
    data = with_("endpoint." + secret, "sk-fake-test-key-0001")
    with pytest.raises(ConfigError) as info:
        parse_spec(data)
    assert "api_key_env" in str(info.value) and info.value.field.startswith("endpoint")
    assert "sk-fake-test-key" not in str(info.value)
