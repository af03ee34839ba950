"""Bodies read by being fed (``Body.push_to``, ``sse.read_pushed``, ``sse.SSESplitter``): the
per-token path of the streaming endpoints, where each network read is split and decoded in the
connection's read callback instead of waking a reader coroutine. Same stamps, same order, same
failures as reading piece by piece."""

from __future__ import annotations

import asyncio

import pytest

from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint
from llmeter_core.endpoints.transport.body import Body
from llmeter_core.endpoints.transport.sse import SSESplitter, read_pushed
from tests.timing import LoopLag

from .aws_support import assert_matches_truth
from .test_pool import _Source


def _fed(body: Body) -> list[tuple[int, bytes]]:
    pieces: list[tuple[int, bytes]] = []
    assert body.push_to(lambda stamp, data: pieces.append((stamp, data)))
    return pieces


async def test_buffered_pieces_go_first_with_their_stamps_then_each_read_as_it_is_fed():
    source = _Source()
    body = Body(source, None)
    body.feed(b"a", 10)
    body.feed(b"b", 20)
    pieces = _fed(body)
    assert pieces == [(10, b"a"), (20, b"b")]
    body.feed(b"c", 30)
    assert pieces[-1] == (30, b"c")  # handed over inside feed, before any loop turn
    waiter = asyncio.ensure_future(body.pushed())
    await asyncio.sleep(0)
    assert not waiter.done()
    body.feed_eof()
    await waiter
    assert body.last_arrival_ns == 30 and source.calls == []


async def test_a_failing_reader_gets_its_own_error_and_nothing_more_is_fed_to_it():
    body = Body(_Source(), None)
    fed: list[bytes] = []

    def sink(stamp: int, data: bytes) -> None:
        fed.append(data)
        if data == b"bad":
            raise ValueError("bad chunk")

    assert body.push_to(sink)
    body.feed(b"ok", 1)
    body.feed(b"bad", 2)
    body.feed(b"later", 3)
    body.set_exception(ConnectionError("closed"))  # what the connection reports next
    with pytest.raises(ValueError, match="bad chunk"):
        await body.pushed()
    assert fed == [b"ok", b"bad"]


async def test_a_connection_failure_mid_body_is_raised_by_pushed():
    body = Body(_Source(), None)
    _fed(body)
    waiter = asyncio.ensure_future(body.pushed())
    await asyncio.sleep(0)
    body.set_exception(ConnectionError("the server closed the connection"))
    with pytest.raises(ConnectionError):
        await waiter


async def test_a_body_with_a_read_timeout_is_read_piece_by_piece_with_the_same_stamps():
    """Its reader must wake on every read to restart the timer: ``push_to`` refuses, and
    ``read_pushed`` reads it instead, feeding the same pieces with the same stamps."""
    body = Body(_Source(), 5.0)
    assert not body.push_to(lambda stamp, data: None)
    body.feed(b"a", 10)
    body.feed(b"b", 20)
    body.feed_eof()
    pieces: list[tuple[int, bytes]] = []
    await read_pushed(body, lambda stamp, data: pieces.append((stamp, data)))
    assert pieces == [(10, b"a"), (20, b"b")]


def test_the_splitter_pairs_names_carries_cut_lines_and_stamps_the_completing_piece():
    seen: list[tuple[int, bytes | None, bytes]] = []
    splitter = SSESplitter(lambda stamp, event, data: seen.append((stamp, event, data)))
    for stamp, piece in enumerate([b"event: a\r\nda", b"ta: 1\r\n\r\n: note\ndata: tw", b"o\n\ndata: tail"], 1):
        splitter.feed(stamp, piece)
    assert seen == [(2, b"a", b"1"), (3, None, b"two")]
    splitter.end()
    assert seen[-1] == (3, None, b"tail")


async def test_a_chat_stream_on_the_direct_client_is_decoded_in_the_read_callback(emulator, monkeypatch):
    """No ``read_stamped`` per token: the reader coroutine is resumed once at the end of the
    body, and the token times are still each read's own arrival (the emulator's ground truth)."""

    async def no_pull(self: Body) -> tuple[int, bytes]:
        raise AssertionError("the stream was read piece by piece")

    monkeypatch.setattr(Body, "read_stamped", no_pull)
    emu = await emulator("openai", ttft_ms=30, itl_ms=10, output_tokens=5)
    async with LoopLag() as lag:
        async with OpenAIChatEndpoint(model_id="m", base_url=emu.url + "/v1") as endpoint:
            out = await endpoint.call(OpenAIChatEndpoint.create_payload("one two", max_tokens=5), timeout=10)
    assert out.ok, out.error
    assert (out.num_tokens_output, out.response_text) == (5, "tok0 tok1 tok2 tok3 tok4")
    assert_matches_truth(out, emu, lag)


def test_one_event_per_read_keeps_a_name_sent_before_it_and_ends_it():
    """The common read (one ``data:`` line and its blank line) takes the one-step path in
    ``SSESplitter.feed``: same pairing with an ``event:`` line from an earlier read, same reset."""
    seen: list[tuple[int, bytes | None, bytes]] = []
    splitter = SSESplitter(lambda stamp, event, data: seen.append((stamp, event, data)))
    for stamp, piece in enumerate([b"event: delta\n", b"data: 1\n\n", b"data: 2\n\n", b"data:3\r\n\r\n"], 1):
        splitter.feed(stamp, piece)
    assert seen == [(2, b"delta", b"1"), (3, None, b"2"), (4, None, b"3")]
