"""CacheBuster: each request's prompt starts with a unique marker; payloads are never mutated."""

from __future__ import annotations

import copy
import re

import pytest

from llmeter_core.cache_buster import CacheBuster, bust_payload
from llmeter_core.errors import ConfigError
from llmeter_core.runner import Runner

from ..fakes import FakeEndpoint

M = "[X]"

CONVERSE = {
    "system": [{"text": "You are terse."}, {"cachePoint": {"type": "default"}}],
    "messages": [{"role": "user", "content": [{"cachePoint": {"type": "default"}}, {"text": "Hi"}]}],
    "inferenceConfig": {"maxTokens": 5},
}
CHAT = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]}
CHAT_PARTS = {
    "messages": [
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u"}}, {"type": "text", "text": "Hi"}]}
    ]
}
RESPONSES = {"instructions": "Be brief.", "input": "Hi"}
RESPONSES_ITEMS = {
    "input": [
        {"role": "developer", "content": "Rules."},
        {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
    ]
}
ANTHROPIC = {
    "anthropic_version": "bedrock-2023-05-31",
    "system": "Be brief.",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}]}],
}


@pytest.mark.parametrize(
    "payload, path_to_text, position",
    [
        (CONVERSE, ("system", 0, "text"), "start"),
        (CONVERSE, ("messages", 0, "content", 1, "text"), "first_user"),
        (CHAT, ("messages", 0, "content"), "start"),
        (CHAT, ("messages", 1, "content"), "first_user"),
        (CHAT_PARTS, ("messages", 0, "content", 1, "text"), "start"),
        (RESPONSES, ("instructions",), "start"),
        (RESPONSES, ("input",), "first_user"),
        (RESPONSES_ITEMS, ("input", 0, "content"), "start"),
        (RESPONSES_ITEMS, ("input", 1, "content", 0, "text"), "first_user"),
        (ANTHROPIC, ("system",), "start"),
        (ANTHROPIC, ("messages", 0, "content", 0, "text"), "first_user"),
        ({"prompt": "Hi", "max_gen_len": 5}, ("prompt",), "start"),
        ({"inputText": "Hi"}, ("inputText",), "start"),
        ({"inputs": "Hi", "parameters": {}}, ("inputs",), "first_user"),
    ],
)
def test_marker_goes_before_the_right_text(payload, path_to_text, position):
    original = copy.deepcopy(payload)
    busted = bust_payload(payload, M, position)
    assert payload == original  # never mutated
    value, before = busted, original
    for key in path_to_text:
        value, before = value[key], before[key]
    assert value == M + before
    # exactly one string changed
    assert str(busted).count(M) == 1


def test_untouched_parts_are_shared_not_copied():
    busted = bust_payload(CHAT, M, "first_user")
    assert busted["messages"][0] is CHAT["messages"][0]
    assert busted["messages"] is not CHAT["messages"]


def test_payload_without_text_is_left_alone():
    assert bust_payload({"messages": [{"role": "user", "content": [{"image": {}}]}]}, M) is None
    assert bust_payload({"foo": 1}, M) is None


async def test_callback_makes_every_payload_unique_and_counts():
    buster = CacheBuster()
    payloads = [await buster.before_invoke(CHAT) for _ in range(50)]
    texts = [p["messages"][0]["content"] for p in payloads]
    assert len(set(texts)) == 50
    assert all(re.fullmatch(r"\[[0-9a-f]{32}\]\nBe brief\.", t) for t in texts)
    assert await buster.before_invoke({"foo": 1}) is None
    assert buster.contributed_stats() == {"cache_buster_requests": 50, "cache_buster_unchanged_requests": 1}
    assert buster.to_config()["position"] == "start"


def test_settings_are_validated():
    with pytest.raises(ConfigError):
        CacheBuster(position="end")
    with pytest.raises(ConfigError):
        CacheBuster(template="no marker")


async def test_runner_sends_unique_payloads_with_the_buster():
    sent = []
    endpoint = FakeEndpoint(tokens=1, on_payload=sent.append)
    result = await Runner(
        endpoint,
        {"prompt": "same prompt"},
        clients=3,
        n_requests=4,
        callbacks=[CacheBuster(template="<{nonce}> ")],
        handle_signals=False,
    ).run()
    assert result.total_requests == 12
    prompts = [p["prompt"] for p in sent]
    assert len(set(prompts)) == 12 and all(p.endswith("> same prompt") for p in prompts)
    assert result.stats["cache_buster_requests"] == 12
