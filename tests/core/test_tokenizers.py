"""`tokenizer:` in spec and suite files: whitespace, hf:<file or folder> (the tiny BPE shipped
in tests/data), tiktoken only from its cache; clear errors naming the missing file; the
tokenizer counts what the API does not report and is recorded in run_config.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmeter_core import ConfigError, Runner
from llmeter_core.spec import parse_spec
from llmeter_core.tokenizers import HFTokenizer, WhitespaceTokenizer, describe_tokenizer, load_tokenizer
from tests.fakes import FakeEndpoint

TINY = Path(__file__).parent.parent / "data" / "tiny-bpe"


def test_forms():
    assert isinstance(load_tokenizer(None), WhitespaceTokenizer)
    assert describe_tokenizer(load_tokenizer("whitespace")) == "whitespace"
    by_folder = load_tokenizer(f"hf:{TINY}")
    by_file = load_tokenizer("hf:tiny-bpe/tokenizer.json", base_dir=TINY.parent)
    assert isinstance(by_folder, HFTokenizer) and by_folder.sha256 == by_file.sha256
    ids = by_folder.encode("one two three four")
    assert len(ids) not in (0, 4) and by_folder.decode(ids) == "one two three four"


@pytest.mark.parametrize(
    "spec, message",
    [
        ("hf:{tmp}/missing.json", "missing.json: no such file"),
        ("hf:{tmp}", "has no tokenizer.json"),
        ("hf:{tmp}/garbage.json", "not a tokenizer.json file"),
    ],
)
def test_missing_or_bad_files_are_named(tmp_path, spec, message):
    (tmp_path / "garbage.json").write_text("{}")
    with pytest.raises(ConfigError) as caught:
        load_tokenizer(spec.format(tmp=tmp_path))
    assert caught.value.field == "tokenizer" and message in str(caught.value)
    assert "\n" not in str(caught.value)


def _spec(**more) -> dict:
    return {
        "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1"},
        "load": {"n_requests": 1},
        "payloads": {"prompts": ["a"]},
        **more,
    }


def test_spec_errors_come_before_anything_is_sent(tmp_path):
    with pytest.raises(ConfigError) as caught:
        parse_spec(_spec(tokenizer="sentencepiece"))
    assert caught.value.field == "tokenizer"
    with pytest.raises(ConfigError) as caught:
        parse_spec(_spec(tokenizer="hf:nowhere/tokenizer.json"), base_dir=tmp_path).runner()
    assert caught.value.field == "tokenizer" and str(tmp_path / "nowhere" / "tokenizer.json") in str(caught.value)


def test_tiktoken_never_downloads(monkeypatch, tmp_path):
    pytest.importorskip("tiktoken")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    with pytest.raises(ConfigError) as caught:
        load_tokenizer("tiktoken:cl100k_base")
    assert "not in tiktoken's cache" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_tokenizer("tiktoken:no_such_encoding")
    assert "unknown tiktoken encoding" in str(caught.value)


class NoUsageEndpoint(FakeEndpoint):
    """The fake endpoint's replies without token counts (a server that reports no usage)."""

    async def parse_response(self, raw, start_ns, out):
        await super().parse_response(raw, start_ns, out)
        out.num_tokens_input = out.num_tokens_output = None


def test_the_runs_tokenizer_counts_what_the_api_does_not_report(tmp_path):
    hf = load_tokenizer(f"hf:{TINY}")
    runner = Runner(
        NoUsageEndpoint(tokens=5),
        {"prompt": "one two three four"},
        n_requests=2,
        tokenizer=hf,
        output_path=str(tmp_path),
        run_name="counted",
    )
    result = runner.run_sync()
    r = result.responses[0]
    assert r.num_tokens_output == len(hf.encode(r.response_text)) != len(r.response_text.split())
    assert r.num_tokens_input == len(hf.encode(r.input_prompt))
    config = json.loads((tmp_path / "counted" / "run_config.json").read_text())
    assert config["tokenizer"] == f"hf:{hf.path} (sha256 {hf.sha256})"


def test_suite_tokenizer_paths_are_relative_to_the_suite_file(tmp_path):
    from flows.params import load_suite

    (tmp_path / "tok").mkdir()
    (tmp_path / "tok" / "tokenizer.json").write_bytes((TINY / "tokenizer.json").read_bytes())
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        json.dumps(
            {
                "endpoints": [{"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1"}],
                "payloads": {"prompts": ["a"]},
                "load": {"n_requests": 1},
                "tokenizer": "hf:tok",
            }
        )
    )
    loaded = load_suite(suite)
    assert loaded.tokenizer == f"hf:{(tmp_path / 'tok').resolve()}"
    from flows.params import check_plan

    check_plan(loaded)  # loads it: no error
