"""The eventstream encoder round-trips through botocore's decoder; SageMaker part splitting."""

from __future__ import annotations

import pytest
from botocore.eventstream import ChecksumMismatch, EventStreamBuffer

from llmeter_core.emulator.eventstream import encode_message, event_headers, exception_headers, header_block
from llmeter_core.emulator.sagemaker_handlers import PayloadSplitter


def decode(data: bytes):
    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_event_message_round_trips_with_headers_and_payload():
    data = encode_message(event_headers("contentBlockDelta"), b'{"delta":{"text":"hi"}}')
    data += encode_message(exception_headers("throttlingException"), b'{"message":"slow down"}')
    first, second = decode(data)
    assert first.headers == {
        ":event-type": "contentBlockDelta",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert first.payload == b'{"delta":{"text":"hi"}}'
    assert second.headers[":message-type"] == "exception"
    assert second.headers[":exception-type"] == "throttlingException"
    assert second.payload == b'{"message":"slow down"}'


def test_empty_payload_and_no_headers():
    (message,) = decode(encode_message(b"", b""))
    assert message.headers == {} and message.payload == b""


def test_both_crcs_are_checked():
    data = bytearray(encode_message(header_block({":event-type": "chunk"}), b"payload"))
    data[-1] ^= 0xFF  # message CRC
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))
    data = bytearray(encode_message(header_block({":event-type": "chunk"}), b"payload"))
    data[9] ^= 0xFF  # prelude CRC
    with pytest.raises(ChecksumMismatch):
        decode(bytes(data))


def test_payload_splitter_cuts_one_write_at_the_cycle_sizes():
    parts = [message.payload for message in decode(PayloadSplitter()(bytes(range(256)) + bytes(44)))]
    assert [len(part) for part in parts] == [37, 61, 23, 89, 11, 37, 42]
    assert b"".join(parts) == bytes(range(256)) + bytes(44)


def test_payload_splitter_splits_lines_but_never_holds_bytes_back():
    splitter = PayloadSplitter()
    lines = [b'data:{"token":{"text":"tok%d"}}\n\n' % i for i in range(20)]
    for line in lines:  # each write is emitted whole, as its token is due
        messages = decode(splitter(line))
        assert all(m.headers[":event-type"] == "PayloadPart" for m in messages)
        assert b"".join(m.payload for m in messages) == line
    big = [m.payload for m in decode(splitter(b"".join(lines)))]
    assert b"".join(big) == b"".join(lines)
    assert any(not part.endswith(b"\n\n") for part in big)
    assert any(b'{"token"' in part and b"}}" not in part for part in big)  # a JSON object cut open
