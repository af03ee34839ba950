"""Encoder of ``application/vnd.amazon.eventstream`` messages (botocore only decodes).

A message, big-endian: total length (4 bytes), headers length (4), CRC32 of those 8 bytes,
headers, payload, CRC32 of everything before it. A string header is: name length (1 byte),
name, type 7, value length (2 bytes), value. Header blocks are constant per event type, so
handlers encode them once (``header_block``) and pay only for the payload and two CRCs
per message.
"""

from __future__ import annotations

import struct
from binascii import crc32

__all__ = ["header_block", "encode_message", "event_headers", "exception_headers", "EVENTSTREAM_CONTENT_TYPE"]

EVENTSTREAM_CONTENT_TYPE = "application/vnd.amazon.eventstream"

_STRING = 7
_PRELUDE = struct.Struct(">II")
_CRC = struct.Struct(">I")


def header_block(headers: dict[str, str]) -> bytes:
    """Encode string headers in order."""
    out = bytearray()
    for name, value in headers.items():
        name_bytes = name.encode()
        value_bytes = value.encode()
        out += bytes((len(name_bytes),)) + name_bytes + bytes((_STRING,))
        out += struct.pack(">H", len(value_bytes)) + value_bytes
    return bytes(out)


def encode_message(headers: bytes, payload: bytes) -> bytes:
    """One framed message from an encoded header block and a payload, with both CRCs."""
    prelude = _PRELUDE.pack(16 + len(headers) + len(payload), len(headers))
    message = prelude + _CRC.pack(crc32(prelude)) + headers + payload
    return message + _CRC.pack(crc32(message))


def event_headers(event_type: str, content_type: str = "application/json") -> bytes:
    """The header block of an ``event`` message of ``event_type``."""
    return header_block({":event-type": event_type, ":content-type": content_type, ":message-type": "event"})


def exception_headers(exception_type: str) -> bytes:
    """The header block of an ``exception`` message (boto3 raises EventStreamError)."""
    return header_block(
        {":exception-type": exception_type, ":content-type": "application/json", ":message-type": "exception"}
    )
