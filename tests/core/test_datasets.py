"""Datasets (ShareGPT-style conversations) and payload files from local paths and S3 (moto)."""

from __future__ import annotations

import json

import boto3
import pytest

from llmeter_core import ConfigError
from llmeter_core.datasets import dataset_prompts, user_turns
from llmeter_core.emulator import EmulatorThread
from llmeter_core.payloads import load_payloads
from llmeter_core.spec import parse_spec

SHAREGPT = [
    {
        "id": "a",
        "conversations": [
            {"from": "system", "value": "be kind"},
            {"from": "human", "value": "one two"},
            {"from": "gpt", "value": "three"},
            {"from": "human", "value": "four five six"},
        ],
    },
    {"id": "b", "conversations": [{"from": "gpt", "value": "no user here"}]},
    {"id": "c", "messages": [{"role": "user", "content": "seven"}, {"role": "assistant", "content": "eight"}]},
]


def test_user_turns_first_or_each_and_skipped():
    assert user_turns(SHAREGPT[0]) == ["one two", "four five six"]
    assert dataset_prompts(SHAREGPT, "first") == (["one two", "seven"], 1)
    assert dataset_prompts(SHAREGPT, "each") == (["one two", "four five six", "seven"], 1)
    assert dataset_prompts(SHAREGPT, "each", limit=2) == (["one two", "four five six"], 0)


def _spec(payloads: dict, url: str = "http://127.0.0.1:1/v1", endpoint_type: str = "openai-chat", out=None) -> dict:
    spec = {
        "endpoint": {"type": endpoint_type, "model": "m", "base_url": url},
        "load": {"n_requests": 3},
        "payloads": payloads,
    }
    if out is not None:
        spec.update(output=str(out), run_name="dataset")
    return spec


def test_a_local_dataset_drives_any_endpoint_type(tmp_path):
    (tmp_path / "chats.jsonl").write_text("\n".join(json.dumps(c) for c in SHAREGPT))
    payloads = {"dataset": {"path": "chats.jsonl", "turns": "each", "max_tokens": 7}}
    with EmulatorThread("anthropic", ttft_ms=0, itl_ms=0, output_tokens=20) as emu:
        spec = parse_spec(_spec(payloads, emu.url, "anthropic-messages", tmp_path / "out"), base_dir=tmp_path)
        result = spec.runner().run_sync()
    assert result.stats["failed_requests"] == 0
    assert {r.input_payload["messages"][0]["content"] for r in result.responses} <= {
        "one two",
        "four five six",
        "seven",
    }
    assert all(r.num_tokens_output == 7 for r in result.responses)


@pytest.mark.parametrize(
    "dataset, message",
    [
        ({"path": "missing.json"}, "missing.json: no such file"),
        ({"path": "empty.json"}, "no conversation has a user turn"),
        ({"path": "object.json"}, "must hold a list of conversations"),
        ({"path": "bad.jsonl"}, "line 2"),
    ],
)
def test_bad_datasets_are_named_before_anything_is_sent(tmp_path, dataset, message):
    (tmp_path / "empty.json").write_text(json.dumps([SHAREGPT[1]]))
    (tmp_path / "object.json").write_text("{}")
    (tmp_path / "bad.jsonl").write_text('{"messages": []}\n{oops\n')
    with pytest.raises(ConfigError) as caught:
        parse_spec(_spec({"dataset": dataset}), base_dir=tmp_path).runner()
    assert message in str(caught.value)


def test_payload_file_dataset_and_folder_from_s3(s3_bucket):
    s3 = boto3.client("s3")
    bodies = [{"messages": [{"role": "user", "content": f"p{i}"}], "max_tokens": 3} for i in range(3)]
    s3.put_object(Bucket=s3_bucket, Key="payloads/p1.jsonl", Body="\n".join(json.dumps(b) for b in bodies[:2]))
    s3.put_object(Bucket=s3_bucket, Key="payloads/p2.json", Body=json.dumps(bodies[2]))
    s3.put_object(Bucket=s3_bucket, Key="data/sharegpt.json", Body=json.dumps(SHAREGPT))
    assert load_payloads(f"s3://{s3_bucket}/payloads/p1.jsonl") == bodies[:2]
    assert load_payloads(f"s3://{s3_bucket}/payloads") == bodies  # a folder, in name order
    runner = parse_spec(_spec({"file": f"s3://{s3_bucket}/payloads/p1.jsonl", "extra": {"temperature": 0}})).runner()
    assert runner.payloads == [{**b, "temperature": 0} for b in bodies[:2]]
    runner = parse_spec(_spec({"dataset": {"path": f"s3://{s3_bucket}/data/sharegpt.json"}})).runner()
    assert [p["messages"][0]["content"] for p in runner.payloads] == ["one two", "seven"]
    with pytest.raises(ConfigError) as caught:
        parse_spec(_spec({"file": f"s3://{s3_bucket}/payloads/nope.jsonl"})).runner()
    assert f"s3://{s3_bucket}/payloads/nope.jsonl" in str(caught.value) and "no such" in str(caught.value)


def test_suite_dataset_paths_are_relative_to_the_suite_file(tmp_path):
    from flows.params import check_plan, load_suite

    (tmp_path / "chats.json").write_text(json.dumps(SHAREGPT))
    suite = tmp_path / "suite.yaml"
    suite.write_text(
        json.dumps(
            {
                "endpoints": [{"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:1/v1"}],
                "payloads": {"dataset": {"path": "chats.json"}},
                "load": {"n_requests": 1},
            }
        )
    )
    loaded = load_suite(suite)
    assert loaded.payloads.dataset.path == str((tmp_path / "chats.json").resolve())
    check_plan(loaded)
