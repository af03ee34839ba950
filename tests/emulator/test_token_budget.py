"""The emulator's shared decoding throughput (``tokens_per_second``): all streams together get
at most that many output tokens a second; one stream at light load keeps its own pace."""

import asyncio
import time

import pytest

from llmeter_core.emulator import EmulatorConfig
from llmeter_core.emulator.token_budget import TokenBudget
from llmeter_core.errors import ConfigError

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": True}
STREAMS = {
    "openai": ("/v1/chat/completions", CHAT),
    "bedrock": ("/model/m/converse-stream", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
    "sagemaker": (
        "/endpoints/e/invocations-response-stream",
        {"inputs": "hi", "parameters": {"max_new_tokens": 100}, "stream": True},
    ),
}


def test_slots_are_one_gap_apart_in_order_of_asking():
    budget = TokenBudget(100.0)  # a slot every 10 ms
    assert budget.reserve(1.0) == 1.0
    assert budget.reserve(1.0) == pytest.approx(1.01)  # same due time: the next free slot
    assert budget.reserve(1.0, tokens=3) == pytest.approx(1.04)  # slots 1.02, 1.03, 1.04
    assert budget.reserve(2.0) == 2.0  # a free line: on time


@pytest.mark.parametrize("kind", sorted(STREAMS))
async def test_streams_together_never_exceed_the_budget(emulator, timed_post, kind):
    path, body = STREAMS[kind]
    tps, streams, tokens = 400.0, 8, 20
    emu = await emulator(kind, ttft_ms=0, itl_ms=0, output_tokens=tokens, tokens_per_second=tps)
    start = time.perf_counter()
    await asyncio.gather(*(timed_post(emu.url, path, body, b"\n") for _ in range(streams)))
    elapsed = time.perf_counter() - start
    records = list(emu.state.truth.records.values())
    sent = sum(r.tokens_sent for r in records)
    assert sent == streams * tokens
    # 160 tokens in slots 2.5 ms apart: the last one no earlier than 159 gaps after the first
    assert elapsed >= (sent - 1) / tps * 0.99
    # no stream went faster than one slot a token either
    for r in records:
        assert (r.last_token_ms - r.first_token_ms) / (tokens - 1) >= 0.99 * 1000 / tps


async def test_a_non_streamed_reply_takes_its_slots(emulator, timed_post):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=50, tokens_per_second=500)
    start = time.perf_counter()
    body = {**CHAT, "stream": False}
    await asyncio.gather(*(timed_post(emu.url, "/v1/chat/completions", body, b"}") for _ in range(4)))
    assert time.perf_counter() - start >= 199 / 500 * 0.99


async def test_one_stream_under_the_budget_keeps_its_own_pace(emulator, timed_post):
    emu = await emulator("openai", ttft_ms=20, itl_ms=10, output_tokens=21, tokens_per_second=1000)
    await timed_post(emu.url, "/v1/chat/completions", CHAT, b"\n")
    (record,) = emu.state.truth.records.values()
    assert (record.last_token_ms - record.first_token_ms) / 20 == pytest.approx(10.0, abs=2.0)


@pytest.mark.parametrize("value", [-1, True, float("inf"), "fast"])
def test_a_bad_budget_is_refused(value):
    with pytest.raises(ConfigError, match="tokens_per_second"):
        EmulatorConfig(tokens_per_second=value)
