"""The emulator's prompt-prefix cache: a prefix seen before is reported as cached tokens and
shortens the TTFT; CacheBuster's unique markers defeat it, as on a real server."""

from __future__ import annotations

import pytest

from llmeter_core import ConfigError, Runner, create_endpoint
from llmeter_core.cache_buster import CacheBuster
from llmeter_core.emulator import EmulatorConfig, EmulatorThread
from llmeter_core.emulator.latency import Schedule
from llmeter_core.emulator.prefix_cache import PrefixCache

WORDS = [f"w{i}" for i in range(64)]


def test_only_whole_leading_blocks_match():
    cache = PrefixCache(block_tokens=4)
    assert cache.serve(WORDS[:10]) == 0  # first sight; blocks 0-3, 4-7 kept (8-9 partial)
    assert cache.serve(WORDS[:10]) == 8
    assert cache.serve(WORDS[:6] + ["x"] * 10) == 4  # diverges inside block 2
    assert cache.serve(["x"] + WORDS[:12]) == 0  # shifted by one: no prefix matches
    assert cache.serve(WORDS[4:8] + WORDS[:4]) == 0  # a block seen elsewhere is not a prefix


def test_least_recently_used_blocks_go_first():
    cache = PrefixCache(block_tokens=2, max_blocks=2)
    cache.serve(["a", "b", "c", "d"])
    cache.serve(["e", "f"])  # evicts a-b (c-d chained after it stays, but is unreachable)
    assert cache.serve(["a", "b", "c", "d"]) == 0


def test_ttft_shrinks_with_the_cached_share():
    cache = PrefixCache(block_tokens=4, ttft_saving=0.5)
    schedule = Schedule(ttft_s=0.2, itl_s=0.01, n_tokens=5, truncated=False)
    body = {"messages": [{"role": "user", "content": " ".join(WORDS[:16])}]}
    assert cache.apply(body, 16, schedule) == (0, schedule)
    cached, faster = cache.apply(body, 16, schedule)
    assert cached == 16 and faster.ttft_s == pytest.approx(0.2 * (1 - 0.5))
    slow = Schedule(ttft_s=1.2, itl_s=0.01, n_tokens=5, truncated=False, first_byte_s=1.0)
    assert cache.apply(body, 16, slow)[1].ttft_s == pytest.approx(1.0 + 0.2 * 0.5)  # the slow byte stays


def test_options_are_checked():
    with pytest.raises(ConfigError) as caught:
        EmulatorConfig(prefix_cache=True, prefix_cache_ttft_saving=2)
    assert caught.value.field == "prefix_cache_ttft_saving"
    with pytest.raises(ConfigError):
        EmulatorConfig(prefix_cache_block_tokens=0)


def _run(url: str, callbacks=(), endpoint_type: str = "openai-chat", base: str = "/v1"):
    system = " ".join(WORDS)  # a 64-word shared system prompt, then a short question
    endpoint = create_endpoint(endpoint_type, model_id="m", base_url=url + base)
    if endpoint_type == "anthropic-messages":
        payload = {"system": system, "messages": [{"role": "user", "content": "what now"}], "max_tokens": 5}
    else:
        payload = {
            "messages": [{"role": "system", "content": system}, {"role": "user", "content": "what now"}],
            "max_tokens": 5,
        }
    return Runner(endpoint, payload, clients=1, n_requests=6, callbacks=list(callbacks)).run_sync()


@pytest.mark.parametrize("endpoint_type, base", [("openai-chat", "/v1"), ("anthropic-messages", "")])
def test_cache_buster_shows_in_cached_tokens_and_ttft(endpoint_type, base):
    config = dict(
        ttft_ms=200,
        itl_ms=0,
        output_tokens=5,
        prefix_cache=True,
        prefix_cache_block_tokens=16,
        prefix_cache_ttft_saving=0.75,
    )
    with EmulatorThread("all", **config) as emu:
        cached = _run(emu.url, endpoint_type=endpoint_type, base=base)
        emu.reset()
        busted = _run(emu.url, [CacheBuster()], endpoint_type, base)
    first, *rest = cached.responses
    assert first.num_tokens_input_cached == 0  # nothing seen yet
    assert all(r.num_tokens_input_cached == 64 for r in rest)  # the 4 whole blocks of the system prompt
    assert all(r.num_tokens_input_cached == 0 for r in busted.responses)
    # TTFT: 200 ms x (1 - 0.75 x 64/66) = 54.5 ms when cached, 200 ms when not.
    assert all(r.time_to_first_token == pytest.approx(0.0545, abs=0.03) for r in rest)
    assert all(r.time_to_first_token == pytest.approx(0.200, abs=0.03) for r in busted.responses)
    assert first.time_to_first_token == pytest.approx(0.200, abs=0.03)


def test_off_by_default_and_cached_tokens_setting_unchanged():
    with EmulatorThread("openai", ttft_ms=0, itl_ms=0, output_tokens=2, cached_tokens=3) as emu:
        result = _run(emu.url)
    assert all(r.num_tokens_input_cached == 3 for r in result.responses)
