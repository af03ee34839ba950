"""Counts under faults: every request the server could have seen is a recorded request.

For every endpoint type with an emulator, streamed and not, a run against an emulator that
drops connections (``rate_disconnect`` with ``disconnect_mode="drop"``: a non-streamed reply is
cut before its head, a stream half-way) must record exactly what the emulator served
(``/emulator/stats``, its ground truth): ``ok + failed + incomplete == served``, failures ==
disconnects injected. A transport that silently sends a request again on a new connection
(the server saw it twice) breaks the equality. Both transports of each endpoint are run: the
project's direct client and aiohttp (which resends only idempotent methods, never a POST).
"""

from __future__ import annotations

import socket

import pytest

from llmeter_core import Runner, create_endpoint
from tests.timing import LoopLag

from ..endpoints.aws_support import assert_matches_truth

#: (emulator kind, endpoint type, model, endpoint options)
CASES = [
    ("openai", "openai-chat", "m", {"stream": True}),
    ("openai", "openai-chat", "m", {"stream": False}),
    ("openai", "openai-responses", "m", {"stream": True}),
    ("openai", "openai-responses", "m", {"stream": False}),
    ("bedrock", "bedrock-converse", "m", {}),
    ("bedrock", "bedrock-converse-stream", "m", {}),
    ("bedrock", "bedrock-invoke", "anthropic.claude-x", {}),
    ("bedrock", "bedrock-invoke-stream", "anthropic.claude-x", {}),
    ("sagemaker", "sagemaker", "my-endpoint", {}),
    ("sagemaker", "sagemaker-stream", "my-endpoint", {}),
]

CLIENTS, PER_CLIENT = 3, 20


def _endpoint(kind: str, type_name: str, model: str, options: dict, url: str):
    if kind == "openai":
        return create_endpoint(type_name, model_id=model, base_url=url + "/v1", api_key="sk-fake-for-tests", **options)
    return create_endpoint(type_name, model_id=model, endpoint_url=url, **options)


@pytest.mark.parametrize("http_client", ["direct", "aiohttp"])
@pytest.mark.parametrize(
    "kind, type_name, model, options", CASES, ids=[f"{c[1]}-{c[3].get('stream', '')}".rstrip("-") for c in CASES]
)
async def test_server_count_equals_recorded_count_under_disconnects(
    emulator, kind, type_name, model, options, http_client
):
    emu = await emulator(
        kind, ttft_ms=1, itl_ms=0, output_tokens=4, rate_disconnect=0.3, disconnect_mode="drop", seed=3
    )
    endpoint = _endpoint(kind, type_name, model, {**options, "http_client": http_client}, emu.url)
    payloads = [endpoint.payload_for(f"prompt number {i} please", max_tokens=4) for i in range(5)]
    result = await Runner(
        endpoint, payloads, clients=CLIENTS, n_requests=PER_CLIENT, timeout=10, handle_signals=False
    ).run()
    served = emu.stats()
    stats = result.stats
    recorded = len(result.responses)
    ok = sum(1 for r in result.responses if r.error is None)
    assert recorded == stats["total_requests"] == CLIENTS * PER_CLIENT
    assert served["faults"].get("disconnect", 0) > 0  # the fault did fire
    assert served["requests"] == recorded, (served, stats["errors"])
    assert ok == served["completed"]
    assert stats["failed_requests"] + stats["incomplete_requests"] == served["faults"]["disconnect"], stats["errors"]
    assert all(r.retries in (0, None) for r in result.responses)


def _break_idle_connections(pool) -> int:
    """Shut the write side of every idle pooled connection, as a reset the event loop has not
    seen yet would: the next write on it fails at once, before a byte leaves."""
    broken = 0
    for connections in pool._idle.values():
        for connection in connections:
            connection.transport.get_extra_info("socket").shutdown(socket.SHUT_WR)
            broken += 1
    return broken


@pytest.mark.parametrize("kind, type_name, model, options", [CASES[0], CASES[5]], ids=[CASES[0][1], CASES[5][1]])
async def test_a_request_that_never_left_is_sent_again_counted_and_timed_anew(
    emulator, kind, type_name, model, options
):
    """The one resend allowed: the write itself failed, so the server cannot have seen it.
    It is sent once more on a new connection, counted in ``retries`` and timed from the
    new attempt (its times match the server's own record)."""
    emu = await emulator(kind, ttft_ms=20, itl_ms=1, output_tokens=4)
    endpoint = _endpoint(kind, type_name, model, options, emu.url)
    async with endpoint:
        pool = endpoint._transport._pool if kind == "openai" else endpoint.client._endpoint.http_session._pool
        assert _break_idle_connections(pool) == 1  # the connection open() warmed
        async with LoopLag() as lag:
            out = await endpoint.call(endpoint.payload_for("one two three", max_tokens=4), timeout=10)
    assert out.ok, out.error
    assert out.retries == 1
    assert emu.stats()["requests"] == 1
    assert_matches_truth(out, emu, lag)
