"""The streaming benchmark's floor client (a bare protocol that parses nothing) must read each
stream to its end and no further, or its figure, the engine's CPU above it, is wrong: a request
ended early would leave the rest of its stream to be counted as the next request's reads, one
ended late would hang."""

import asyncio

from benchmarks.streaming_benchmark import TOKENS, _floor, floor_request


async def test_the_floor_client_reads_every_stream_whole_and_counts_its_reads(emulator):
    emu = await emulator("openai", ttft_ms=2, itl_ms=3, output_tokens=TOKENS)
    clients, per_client = 4, 3
    cpu_s, _, reads = await asyncio.wait_for(
        _floor(emu.host, emu.port, floor_request(emu.url + "/v1"), clients, per_client), 60
    )
    records = list(emu.state.truth.records.values())
    assert len(records) == clients * (per_client + 1)  # the warm-up request per client, then the measured ones
    assert all(r.stream and r.completed and r.tokens_sent == TOKENS for r in records)
    # every stream's head and tokens are at least one read, at most one read per write (the head,
    # TOKENS token writes, the end)
    measured = clients * per_client
    assert measured <= reads <= measured * (TOKENS + 2)
    assert cpu_s > 0
