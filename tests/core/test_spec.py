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


def test_every_load_and_run_field_reaches_the_runner_under_its_own_name():
    """RunSpec.runner derives the Runner's options from the fields: a field added to LoadSpec
    or RunSpec reaches the Runner (and run_config.json) without a line to copy it."""
    spec = parse_spec(
        {
            **GOOD,
            "run_description": "d",
            "live_interval": 0.5,
            "low_memory": True,
            "seed": 7,
            "load": {
                "clients": 3,
                "run_duration": 2.5,
                "timeout": 9,
                "warmup_requests": 1,
                "end_mode": "cancel",
                "grace_period": 4,
                "max_consecutive_connect_failures": 5,
            },
        }
    )
    runner = spec.runner(output_path=None, handle_signals=False)
    config = runner.run_config()
    for name, value in spec.load.model_dump().items():
        assert config[name] == value and getattr(runner, name) == value, name
    for name in ("run_name", "run_description", "live_interval", "low_memory", "seed"):
        assert config[name] == getattr(spec, name), name
    assert runner.bound.run_duration == runner.run_duration == 2.5


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


# -- limits (issue 7, item 11) -------------------------------------------------------------
@pytest.mark.parametrize(
    "path, value, field",
    [
        ("load.clients", 1_000_000_000_000, "load.clients"),
        ("load.n_requests", 10**30, "load.n_requests"),
        ("load.n_requests", 1e30, "load.n_requests"),
        ("load.timeout", float("inf"), "load.timeout"),
        ("load.grace_period", float("inf"), "load.grace_period"),
        ("live_interval", float("inf"), "live_interval"),
        ("seed", 2**70, "seed"),
    ],
)
def test_huge_and_infinite_values_are_refused(path, value, field):
    with pytest.raises(ConfigError) as info:
        parse_spec(with_(path, value)).runner()
    assert info.value.field == field and "\n" not in str(info.value), str(info.value)


@pytest.mark.parametrize(
    "text, field",
    [
        ("run_duration: .inf", "load.run_duration"),
        ("run_duration: 604801", "load.run_duration"),  # a week and a second
        ("n_requests: 1e30", "load.n_requests"),  # YAML reads this as a string
        ("n_requests: 1.0e+30", "load.n_requests"),
    ],
)
def test_bounds_in_a_spec_file_are_refused_in_one_line(tmp_path, text, field):
    data = with_("load.n_requests", None)
    spec = yaml.safe_dump(data).replace("load:\n", f"load:\n  {text}\n")
    (tmp_path / "spec.yaml").write_text(spec)
    with pytest.raises(ConfigError) as info:
        load_spec(tmp_path / "spec.yaml").runner()
    assert info.value.field == field and "\n" not in str(info.value), str(info.value)


# -- unreadable files (item 13) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "content, expected",
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "not a UTF-8 text file"),
        (b"run_name: caf\xe9\n", "not a UTF-8 text file"),
        (b"run_name: x\x00\x01\x02\n", "NUL bytes"),
        (b"load: {clients: [\n", "not valid YAML"),
    ],
)
def test_binary_and_broken_spec_files_are_one_line_errors(tmp_path, content, expected):
    (tmp_path / "spec.yaml").write_bytes(content)
    with pytest.raises(ConfigError) as info:
        load_spec(tmp_path / "spec.yaml")
    assert info.value.field == "spec" and expected in str(info.value)
    assert "\n" not in str(info.value), str(info.value)


# -- every problem at once (item 14) ------------------------------------------------------------
def test_fields_bounds_typos_endpoint_options_and_payload_files_are_reported_together(tmp_path):
    data = with_("load.clients", 0)
    data["load"]["run_duration"] = 5  # both bounds
    data["load"]["tiemout"] = 3  # a typo
    data["endpoint"].update(colour="red", stream="maybe", max_connections=-1)
    data["payloads"] = {"file": "missing.jsonl"}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as info:
        load_spec(tmp_path / "spec.yaml")
    fields = [field for field, _ in info.value.problems]
    assert fields == [
        "load.clients",
        "load.tiemout",
        "load",
        "endpoint.colour",
        "endpoint.stream",
        "endpoint.max_connections",
        "payloads.file",
    ], str(info.value)
    assert str(info.value).startswith("invalid spec: 7 problems\n")


def test_a_valid_spec_reports_every_endpoint_and_payload_problem_when_built(tmp_path):
    # The endpoint class raises at its first bad option; each is recorded and stepped over.
    data = with_("endpoint.max_connections", -1)
    data["endpoint"].update(colour="red", http_client="curl", stream="maybe")
    data["payloads"] = {"file": str(tmp_path / "missing.jsonl")}
    with pytest.raises(ConfigError) as info:
        parse_spec(data).runner()
    assert [f for f, _ in info.value.problems] == [
        "endpoint.colour",
        "endpoint.stream",
        "endpoint.http_client",
        "endpoint.max_connections",
        "payloads.file",
    ], str(info.value)


# -- no silent coercions (item 15) ---------------------------------------------------------------
@pytest.mark.parametrize(
    "path, value, field",
    [
        ("endpoint.stream", "maybe", "endpoint.stream"),
        ("endpoint.stream", 1, "endpoint.stream"),
        ("endpoint.max_connections", True, "endpoint.max_connections"),
        ("endpoint.headers", {"X-Count": 5}, "endpoint.headers"),
        ("load.clients", True, "load.clients"),
        ("load.n_requests", "3", "load.n_requests"),
        ("load.n_requests", 3.0, "load.n_requests"),
        ("load.timeout", "60", "load.timeout"),
        ("low_memory", "no", "low_memory"),
        ("cache_buster", 1, "cache_buster"),
        ("seed", False, "seed"),
        ("payloads.max_tokens", "8", "payloads.max_tokens"),
    ],
)
def test_values_of_the_wrong_type_are_refused_not_coerced(path, value, field):
    with pytest.raises(ConfigError) as info:
        parse_spec(with_(path, value)).runner()
    assert info.value.field == field, str(info.value)


def test_whole_numbers_are_accepted_for_seconds():
    runner = parse_spec(with_("load.timeout", 5)).runner()
    assert runner.timeout == 5.0


# -- ${VAR} in endpoint options (item 16) -------------------------------------------------------
def test_endpoint_options_are_expanded_when_the_endpoint_is_built(monkeypatch):
    monkeypatch.setenv("SPEC_TEST_TOKEN", "tok-fake-0001")
    monkeypatch.delenv("SPEC_TEST_UNSET", raising=False)
    spec = parse_spec(with_("endpoint.headers", {"Authorization": "Bearer ${SPEC_TEST_TOKEN}"}))
    assert spec.endpoint.options()["headers"] == {"Authorization": "Bearer ${SPEC_TEST_TOKEN}"}
    assert spec.endpoint.build().headers == {"Authorization": "Bearer tok-fake-0001"}
    unset = parse_spec(with_("endpoint.headers", {"Authorization": "Bearer ${SPEC_TEST_UNSET}"}))
    with pytest.raises(ConfigError) as info:
        unset.runner()
    assert info.value.field == "endpoint.headers" and "SPEC_TEST_UNSET" in str(info.value)
