"""The eventstream decoder (``endpoints/transport/eventstream.py``) on hand-framed bytes, and
``read_events`` on both of its paths (socket bytes and botocore's own iteration)."""

from __future__ import annotations

import struct
from binascii import crc32

import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import EventStreamError

from llmeter_core.emulator.eventstream import encode_message, event_headers, exception_headers
from llmeter_core.endpoints.transport.eventstream import EventStreamDecodeError, EventStreamDecoder, read_events

DELTA = encode_message(event_headers("contentBlockDelta"), b'{"delta":{"text":"hi"}}')
STOP = encode_message(event_headers("messageStop"), b'{"stopReason":"end_turn"}')
PART = encode_message(event_headers("PayloadPart", "application/octet-stream"), b'data: {"x"')


def _typed_headers() -> bytes:
    """Headers of every type: bool true/false, byte, short, int, long, bytes, string, timestamp, uuid."""
    out = b""
    for name, kind, value in [
        (b"t", 0, b""),
        (b"f", 1, b""),
        (b"b", 2, b"\xff"),
        (b"s", 3, struct.pack(">h", -2)),
        (b"i", 4, struct.pack(">i", 7)),
        (b"l", 5, struct.pack(">q", 2**40)),
        (b"y", 6, struct.pack(">H", 3) + b"abc"),
        (b":event-type", 7, struct.pack(">H", 4) + b"ping"),
        (b"ts", 8, struct.pack(">q", 1700000000000)),
        (b"u", 9, bytes(range(16))),
    ]:
        out += bytes([len(name)]) + name + bytes([kind]) + value
    return out


def test_decodes_what_botocore_decodes():
    data = DELTA + STOP + PART
    ours = [(h[":event-type"], p) for h, p in EventStreamDecoder().feed(data)]
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    theirs = [(m.headers[":event-type"], m.payload) for m in buffer]
    assert ours == theirs


def test_all_header_types():
    message = encode_message(_typed_headers(), b"{}")
    [(headers, payload)] = EventStreamDecoder().feed(message)
    assert headers == {
        "t": True,
        "f": False,
        "b": -1,
        "s": -2,
        "i": 7,
        "l": 2**40,
        "y": b"abc",
        ":event-type": "ping",
        "ts": 1700000000000,
        "u": int.from_bytes(bytes(range(16)), "big"),
    }
    assert payload == b"{}"


def test_messages_split_at_every_offset():
    data = DELTA + STOP
    for cut in range(1, len(data)):
        decoder = EventStreamDecoder()
        first = decoder.feed(data[:cut])
        second = decoder.feed(data[cut:])
        assert [h[":event-type"] for h, _ in first + second] == ["contentBlockDelta", "messageStop"], cut
        assert decoder.pending == 0


@pytest.mark.parametrize("index", [5, 20, -2])  # prelude, headers, message CRC
def test_corruption_is_detected(index):
    corrupt = bytearray(DELTA)
    corrupt[index] ^= 0xFF
    with pytest.raises(EventStreamDecodeError):
        EventStreamDecoder().feed(bytes(corrupt))


def test_absurd_length_is_rejected():
    prelude = struct.pack(">II", 8, 0)
    with pytest.raises(EventStreamDecodeError):
        EventStreamDecoder().feed(prelude + struct.pack(">I", crc32(prelude)) + b"\0" * 8)


class _Content:
    def __init__(self, pieces):
        self._pieces = list(pieces)

    async def readany(self):
        return self._pieces.pop(0) if self._pieces else b""


class _Raw:
    def __init__(self, pieces):
        self.content = _Content(pieces)


class _RawStream:
    def __init__(self, pieces):
        self._raw_stream = _Raw(pieces)


async def test_read_events_from_socket_bytes():
    data = DELTA + PART + STOP
    events = [(t, b) async for _, t, b in read_events(_RawStream([data[:30], data[30:]]), "ConverseStream")]
    assert events == [
        ("contentBlockDelta", {"delta": {"text": "hi"}}),
        ("PayloadPart", b'data: {"x"'),
        ("messageStop", {"stopReason": "end_turn"}),
    ]


async def test_exception_message_raises_event_stream_error_with_its_code():
    error = encode_message(exception_headers("throttlingException"), b'{"message":"slow down"}')
    seen = []
    with pytest.raises(EventStreamError) as info:
        async for _, event_type, _ in read_events(_RawStream([DELTA + error]), "ConverseStream"):
            seen.append(event_type)
    assert seen == ["contentBlockDelta"]
    assert info.value.response["Error"] == {"Code": "throttlingException", "Message": "slow down"}


async def test_stream_cut_inside_a_message_is_an_error():
    with pytest.raises(EventStreamDecodeError, match="ended inside"):
        async for _ in read_events(_RawStream([DELTA + STOP[:10]]), "ConverseStream"):
            pass


class _BotocoreStream:
    """A stream without socket access: only botocore's documented iteration."""

    def __init__(self, events):
        self._events = events

    async def __aiter__(self):
        for event in self._events:
            yield event


async def test_falls_back_to_botocore_iteration():
    stream = _BotocoreStream([{"contentBlockDelta": {"delta": {"text": "hi"}}}, {"chunk": {"bytes": b"{}"}}])
    events = [(t, b) async for _, t, b in read_events(stream, "ConverseStream")]
    assert events == [("contentBlockDelta", {"delta": {"text": "hi"}}), ("chunk", {"bytes": b"{}"})]
