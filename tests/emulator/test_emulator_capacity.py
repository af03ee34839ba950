"""The emulator's capacity model: at most ``max_concurrency`` requests served at once, FIFO."""

import asyncio

import orjson
import pytest

from llmeter_core.emulator import EmulatorConfig
from llmeter_core.errors import ConfigError

CHAT = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}


def _ids(raw: bytes) -> str:
    body = raw.split(b"\r\n\r\n", 1)[1]
    return orjson.loads(body)["id"]


@pytest.mark.parametrize(
    "kind, path, body",
    [
        ("openai", "/v1/chat/completions", CHAT),
        ("bedrock", "/model/m/converse", {"messages": [{"role": "user", "content": [{"text": "hi"}]}]}),
        ("sagemaker", "/endpoints/e/invocations", {"inputs": "hi", "parameters": {"max_new_tokens": 2}}),
    ],
)
async def test_requests_beyond_capacity_queue_fifo_and_their_ttft_includes_it(emulator, timed_post, kind, path, body):
    service_ms = 80.0
    emulator = await emulator(kind, ttft_ms=service_ms, itl_ms=0, output_tokens=1, max_concurrency=2)
    posts = [asyncio.create_task(timed_post(emulator.url, path, body, b"}")) for _ in range(6)]
    await asyncio.gather(*posts)
    records = sorted(emulator.state.truth.records.values(), key=lambda r: r.queue_ms)
    queues = [r.queue_ms for r in records]
    # two served at once: two waves wait one and two service times
    assert queues[0] < service_ms / 4 and queues[1] < service_ms / 4
    for wave, pair in ((1, queues[2:4]), (2, queues[4:6])):
        for queue in pair:
            assert queue == pytest.approx(wave * service_ms, abs=service_ms * 0.6)
    stats = emulator.stats()
    assert stats["max_in_flight"] == 6 and stats["in_flight"] == 0
    assert stats["queued"] == 4 and stats["requests"] == 6


async def test_no_capacity_limit_by_default(emulator, timed_post):
    emulator = await emulator("openai", ttft_ms=50, itl_ms=0, output_tokens=1)
    await asyncio.gather(*(timed_post(emulator.url, "/v1/chat/completions", CHAT, b"}") for _ in range(5)))
    assert all(r.queue_ms == 0.0 for r in emulator.state.truth.records.values())
    assert emulator.stats()["queued"] == 0 and emulator.stats()["max_in_flight"] >= 2


@pytest.mark.parametrize("value", [-1, 1.5, True])
def test_bad_capacity_is_refused(value):
    with pytest.raises(ConfigError, match="max_concurrency"):
        EmulatorConfig(max_concurrency=value)
