"""Metric definitions checked against the emulator's ground truth (issue 8): token counts of
streams without usage, reasoning streams (first token, first content token, time per output
token), the end of the response, the longest gap between tokens, throughput.

Timings are compared with when the emulator actually wrote the bytes (its per-request record),
within 1 % plus the lateness of the event loop measured in the same test (``LoopLag``), which
the client's stamps share on a busy machine.
"""

from __future__ import annotations

import orjson
import pytest

from llmeter_core import Runner
from llmeter_core.endpoints.anthropic_messages import AnthropicMessagesEndpoint
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from llmeter_core.endpoints.openai_responses import OpenAIResponsesEndpoint
from tests.timing import LoopLag

from .test_openai_chat import _chunk

PROMPT = "one two three four five"
ENDPOINTS = [OpenAIChatEndpoint, OpenAIResponsesEndpoint]


def close(measured_s: float, truth_ms: float, lag: LoopLag) -> bool:
    """``measured_s`` is the truth (ms) within 1 % plus the loop's lateness; a client never
    sees bytes before the server wrote them, so it is never below the truth."""
    error_ms = measured_s * 1000 - truth_ms
    return -0.5 <= error_ms <= 0.01 * truth_ms + lag.worst_ms


def per_token_close(measured_s: float, truth, lag: LoopLag) -> bool:
    """A time per token is the truth's span over its gaps within 1 %, plus the loop's lateness
    spread over those gaps (it can shift the two ends of the span, not each gap)."""
    gaps = truth.tokens_sent - 1
    truth_ms = (truth.last_token_ms - truth.first_token_ms) / gaps
    return abs(measured_s * 1000 - truth_ms) <= 0.01 * truth_ms + lag.worst_ms / gaps


async def run(endpoint, tmp_path, clients: int = 1, n_requests: int = 3, **options):
    runner = Runner(
        endpoint,
        [endpoint.create_payload(PROMPT, max_tokens=200)],
        clients=clients,
        n_requests=n_requests,
        output_path=tmp_path,
        run_name="r",
        **options,
    )
    result = await runner.run()
    stats = orjson.loads((tmp_path / "r" / "stats.json").read_bytes())
    return result, stats


@pytest.mark.parametrize("cls", ENDPOINTS)
async def test_reasoning_stream_first_token_first_content_and_time_per_token(emulator, tmp_path, cls):
    """20 reasoning deltas from 100 ms, then 20 answer deltas, 10 ms apart; usage 40 tokens, 20
    of them reasoning: first token at ~100 ms, first answer token at ~300 ms, 10 ms per token."""
    emu = await emulator("openai", ttft_ms=100, itl_ms=10, output_tokens=20, reasoning_tokens=20, stream_reasoning=True)
    async with LoopLag() as lag:
        result, stats = await run(cls(model_id="m", base_url=emu.url + "/v1"), tmp_path)
    assert stats["failed_requests"] == 0
    for out in result.responses:
        truth = emu.state.truth.get(out.id)
        assert truth.tokens_sent == 40 and truth.reasoning_sent == 20
        assert (out.num_tokens_output, out.num_tokens_output_reasoning, out.num_tokens_output_source) == (
            40,
            20,
            "usage",
        )
        assert close(out.time_to_first_token, truth.first_token_ms, lag), (out, truth)
        assert close(out.time_to_first_content_token, truth.first_content_ms, lag), (out, truth)
        assert out.time_to_first_content_token - out.time_to_first_token >= 0.19  # 20 reasoning tokens
        assert close(out.time_to_last_token, truth.last_token_ms, lag), (out, truth)
        assert per_token_close(out.time_per_output_token, truth, lag), (out, truth)
        assert out.inter_token_latency == out.time_per_output_token
    assert stats["time_to_first_content_token-p50"] > stats["time_to_first_token-p50"] + 0.19


async def test_hidden_reasoning_is_not_in_the_time_per_token_denominator(emulator, tmp_path):
    """Reasoning reported in usage but never streamed (o1-style): the span covers the 20 answer
    tokens only, so the time per token is the 10 ms between them, not span / 39."""
    emu = await emulator("openai", ttft_ms=50, itl_ms=10, output_tokens=20, reasoning_tokens=20)
    async with LoopLag() as lag:
        result, _ = await run(OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1"), tmp_path, n_requests=2)
    for out in result.responses:
        truth = emu.state.truth.get(out.id)
        assert out.num_tokens_output == 40 and truth.tokens_sent == 20
        assert per_token_close(out.time_per_output_token, truth, lag), (out, truth)


@pytest.mark.parametrize("cls", ENDPOINTS)
@pytest.mark.parametrize("reasoning", [0, 20])
async def test_stream_without_usage_counts_its_tokens(emulator, tmp_path, cls, reasoning):
    """A server that ignores include_usage: the output count is the streamed tokens (reasoning
    deltas included), marked ``stream``; the prompt count is the tokenizer's estimate."""
    emu = await emulator(
        "openai",
        ttft_ms=20,
        itl_ms=5,
        output_tokens=64,
        reasoning_tokens=reasoning,
        stream_reasoning=True,
        omit_usage=True,
    )
    async with LoopLag() as lag:
        result, stats = await run(cls(model_id="m", base_url=emu.url + "/v1"), tmp_path)
    for out in result.responses:
        truth = emu.state.truth.get(out.id)
        assert out.num_tokens_output == truth.tokens_sent == 64 + reasoning
        assert out.num_tokens_output_source == "stream" and out.num_tokens_input_source == "tokenizer"
        assert per_token_close(out.time_per_output_token, truth, lag), (out, truth)
    assert stats["num_tokens_output_sources"] == {"stream": 3}
    assert stats["num_tokens_input_sources"] == {"tokenizer": 3}
    assert stats["total_output_tokens"] == 3 * (64 + reasoning)


async def test_subword_chunks_are_counted_as_tokens_not_words(canned, tmp_path):
    """Real servers stream sub-word tokens: "Hel", "lo", " wor", "ld" are 4 tokens (a
    whitespace split of the text says 2)."""
    url = await canned(
        "/v1/chat/completions",
        [
            _chunk({"role": "assistant", "content": ""}),
            *(_chunk({"content": piece}) for piece in ("Hel", "lo", " wor", "ld")),
            _chunk({}, finish="stop"),
            b"data: [DONE]\n\n",
        ],
    )
    result, stats = await run(OpenAIChatEndpoint(model_id="m", base_url=url), tmp_path, n_requests=1)
    out = result.responses[0]
    assert out.response_text == "Hello world"
    assert (out.num_tokens_output, out.num_tokens_output_source) == (4, "stream")
    assert stats["num_tokens_output_sources"] == {"stream": 1}


async def test_a_configured_tokenizer_counts_a_stream_without_usage(emulator, tmp_path):
    """With a tokenizer set for the run, it (not the chunk count) counts the answer."""

    class Characters:
        spec = "characters"

        def encode(self, text: str) -> list[str]:
            return list(text)

    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=5, omit_usage=True)
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1")
    result, stats = await run(endpoint, tmp_path, n_requests=1, tokenizer=Characters())
    out = result.responses[0]
    assert out.num_tokens_output == len(out.response_text) and out.num_tokens_output_source == "tokenizer"
    assert stats["num_tokens_output_sources"] == {"tokenizer": 1}


@pytest.mark.parametrize("cls", [*ENDPOINTS, AnthropicMessagesEndpoint])
async def test_time_to_end_and_longest_gap(emulator, tmp_path, cls):
    """``time_to_end`` is the end of the response (after the usage and terminator), and the
    longest gap between token reads is the emulator's longest gap between token writes."""
    kind = "anthropic" if cls is AnthropicMessagesEndpoint else "openai"
    emu = await emulator(kind, ttft_ms=50, itl_ms={"dist": "uniform", "low": 2, "high": 30}, output_tokens=10)
    base = emu.url if kind == "anthropic" else emu.url + "/v1"
    async with LoopLag() as lag:
        result, stats = await run(cls(model_id="m", base_url=base), tmp_path)
    for out in result.responses:
        truth = emu.state.truth.get(out.id)
        assert close(out.time_to_end, truth.end_ms, lag), (out, truth)
        assert out.time_to_end >= out.time_to_last_token
        assert abs(out.max_inter_token_latency * 1000 - truth.max_gap_ms) <= 1.0 + lag.worst_ms, (out, truth)
    assert stats["time_to_end-p50"] >= stats["time_to_last_token-p50"]
    assert stats["max_inter_token_latency-max"] is not None


async def test_non_stream_time_to_end_is_the_whole_reply(emulator, tmp_path):
    emu = await emulator("openai", ttft_ms=30, itl_ms=2, output_tokens=5)
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1", stream=False)
    async with LoopLag() as lag:
        result, _ = await run(endpoint, tmp_path, n_requests=1)
    out = result.responses[0]
    assert out.time_to_end == out.time_to_last_token
    assert close(out.time_to_end, emu.state.truth.get(out.id).end_ms, lag)
    assert out.max_inter_token_latency is None and out.time_to_first_content_token is None


async def test_completed_requests_per_second_is_the_servers_throughput(emulator, tmp_path):
    """Closed-loop clients, equal replies: completed requests over first send -> last end is the
    emulator's own count over its busy span; the send-window rate reads about n/(n-1) higher."""
    emu = await emulator("openai", ttft_ms=40, itl_ms=5, output_tokens=20)
    clients, n = 4, 10
    endpoint = OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1")
    # one warm-up request per client: a connection's first request is late to the server's
    # handler (the server's own first-request set-up, which its record cannot see)
    async with LoopLag() as lag:
        result, stats = await run(endpoint, tmp_path, clients=clients, n_requests=n, warmup_requests=1)
    records = [emu.state.truth.get(out.id) for out in result.responses]
    assert len(records) == stats["total_requests"] == clients * n
    begin = min(r.started_s for r in records)
    end = max(r.started_s + r.end_ms / 1000 for r in records)
    truth_rps = len(records) / (end - begin)
    # within 1 %, plus the loop's lateness at the two ends of the window (the first request's
    # way to the server, the last response's way back) on a busy machine
    allowance = truth_rps * 2 * lag.worst_s / (end - begin)
    assert stats["completed_requests_per_second"] == pytest.approx(truth_rps, rel=0.01, abs=allowance)
    assert stats["requests_per_minute"] / 60 > 1.1 * stats["completed_requests_per_second"]  # ~ n / (n - 1)


@pytest.mark.parametrize("name", ["omit_usage", "stream_reasoning"])
def test_emulator_switches_are_booleans(name):
    from llmeter_core.emulator.config import EmulatorConfig
    from llmeter_core.errors import ConfigError

    with pytest.raises(ConfigError, match=name):
        EmulatorConfig(**{name: "yes"})
