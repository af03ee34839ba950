"""The HTTP/1.1 response parser (``endpoints/transport/http1.py``) fed bytes, without sockets:
every framing, every way of splitting the reads, and what it reports to its handler."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from llmeter_core.endpoints.transport.http1 import ProtocolError, ResponseParser, origin_key, request_head


class Recorder:
    """A ``ResponseHandler`` writing down what the parser reports, in order."""

    def __init__(self) -> None:
        self.events: list[tuple] = []

    def head_received(self, status: int, headers: dict[str, str]) -> None:
        self.events.append(("head", status, headers))

    def body_received(self, data: bytes) -> None:
        self.events.append(("body", data))

    def body_ended(self, reusable: bool) -> None:
        self.events.append(("end", reusable))

    def body(self) -> bytes:
        return b"".join(event[1] for event in self.events if event[0] == "body")


def parse(reads: list[bytes], no_body: bool = False, eof: bool = False) -> Recorder:
    recorder = Recorder()
    parser = ResponseParser(recorder)
    parser.expect(no_body)
    for data in reads:
        parser.feed(data)
    if eof:
        parser.feed_eof()
    return recorder


BODY = b'data: {"a": 1}\n\ndata: [DONE]\n\n'
CHUNKED = (
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nX-A: 2\r\n\r\n"
    b"7;ext=1\r\n" + BODY[:7] + b"\r\n" + b"%x\r\n" % (len(BODY) - 7) + BODY[7:] + b"\r\n"
    b"0\r\nTrailer: t\r\n\r\n"
)
LENGTH = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(BODY) + BODY
CLOSE = b"HTTP/1.0 200 OK\r\n\r\n" + BODY


def splits(wire: bytes) -> list[list[bytes]]:
    """The wire in one read, byte by byte, and cut at every single offset."""
    return [[wire], [wire[i : i + 1] for i in range(len(wire))]] + [[wire[:i], wire[i:]] for i in range(1, len(wire))]


@pytest.mark.parametrize(
    "wire, eof, reusable",
    [(CHUNKED, False, True), (LENGTH, False, True), (CLOSE, True, False)],
    ids=["chunked", "content-length", "until-close"],
)
def test_every_framing_however_the_reads_are_split(wire, eof, reusable):
    for reads in splits(wire):
        recorder = parse(reads, eof=eof)
        assert recorder.body() == BODY, reads
        assert recorder.events[0][:2] == ("head", 200)
        assert recorder.events[-1] == ("end", reusable)
        assert sum(event[0] == "head" for event in recorder.events) == 1
        # at most one body piece per read: the bytes of one read keep one arrival time
        assert sum(event[0] == "body" for event in recorder.events) <= len(reads)


def test_a_stream_read_one_whole_chunk_per_read_gives_one_piece_per_read():
    """The streaming case (``ResponseParser._one_chunk``): each read a whole chunk."""
    events = [b"data: %d\n\n" % i for i in range(12)]
    reads = [b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"]
    reads += [b"%x\r\n%b\r\n" % (len(e), e) for e in events]
    reads += [b"3;x=y\r\nabc\r\n", b"0\r\n\r\n"]  # an extension: the general path
    recorder = parse(reads)
    assert [e[1] for e in recorder.events if e[0] == "body"] == events + [b"abc"]
    assert recorder.events[-1] == ("end", True)


@pytest.mark.parametrize(
    ("last", "pieces", "ended"),
    [
        (b"3\r\nabc\r\n0\r\n\r\n", [b"abc"], ("end", True)),  # the last chunk and the terminator
        (b"3\r\nabc\r\n0\r\n\r\nX", [b"abc"], ("end", False)),  # a byte nobody asked for
        (b"3\r\nabc\r\n0\r\nT: t\r\n\r\n", [b"abc"], ("end", True)),  # trailers
        (b"3\r\nabc\r\n0\r\n", [b"abc"], None),  # the terminator's end still to come
        (b"3\r\nabc\r\n2\r\nde\r\n", [b"abcde"], None),  # two chunks: one piece
    ],
    ids=["terminator", "extra-byte", "trailers", "half-terminator", "two-chunks"],
)
def test_a_last_chunk_with_the_terminator_in_one_read_ends_the_body(last, pieces, ended):
    """The last read of a stream often carries the body's terminator too (one step in
    ``_one_chunk``); anything else after a chunk goes the general way, with the same result."""
    recorder = parse([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", last])
    assert [e[1] for e in recorder.events if e[0] == "body"] == pieces
    assert (recorder.events[-1] if recorder.events[-1][0] == "end" else None) == ended


@pytest.mark.parametrize(
    "read",
    [b"3\r\nabcXY", b"-1\r\n\r", b"zz\r\nab\r\n"],
    ids=["no-crlf-after-data", "negative", "not-hex"],
)
def test_a_whole_chunk_read_that_is_not_one_is_parsed_as_usual(read):
    parser = ResponseParser(Recorder())
    parser.expect()
    parser.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    with pytest.raises(ProtocolError):
        parser.feed(read)


def test_headers_are_lower_case_and_repeats_joined():
    (_, status, headers), *_ = parse([CHUNKED]).events
    assert status == 200 and headers["x-a"] == "1, 2" and headers["transfer-encoding"] == "chunked"


def test_the_body_of_one_read_is_one_piece_and_1xx_is_skipped():
    recorder = parse([b"HTTP/1.1 100 Continue\r\n\r\n" + CHUNKED])
    assert [event[0] for event in recorder.events] == ["head", "body", "end"]
    assert recorder.events[0][1] == 200


@pytest.mark.parametrize(
    "head, no_body",
    [
        (b"HTTP/1.1 204 No Content\r\n\r\n", False),
        (b"HTTP/1.1 304 Not Modified\r\n\r\n", False),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n", True),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", False),
    ],
)
def test_responses_without_a_body_end_with_their_head(head, no_body):
    assert [event[0] for event in parse([head], no_body=no_body).events] == ["head", "end"]


@pytest.mark.parametrize(
    "wire",
    [
        LENGTH + b"junk",
        b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx",
        b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
    ],
)
def test_a_connection_is_not_reusable_after_close_http_1_0_or_bytes_nobody_asked_for(wire):
    assert parse([wire]).events[-1] == ("end", False)


def test_a_connection_closed_mid_body_is_not_an_end():
    recorder = Recorder()
    parser = ResponseParser(recorder)
    parser.expect()
    parser.feed(LENGTH[:-5])
    assert parser.feed_eof() is False  # cut short: the connection reports the failure
    assert recorder.events[-1][0] == "body"


def test_two_responses_in_turn_on_one_parser():
    recorder = Recorder()
    parser = ResponseParser(recorder)
    for _ in range(2):
        parser.expect()
        parser.feed(LENGTH)
    assert [event[0] for event in recorder.events] == ["head", "body", "end"] * 2


@pytest.mark.parametrize(
    "wire",
    [
        b"SPDY/9 what\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nabc",
        b"HTTP/1.1 200 OK\r\n" + b"X: " + b"y" * 70_000,
    ],
)
def test_malformed_responses_are_protocol_errors(wire):
    with pytest.raises(ProtocolError):
        parse([wire])


def test_bytes_before_any_request_are_a_protocol_error():
    with pytest.raises(ProtocolError, match="unexpected"):
        ResponseParser(Recorder()).feed(b"HTTP/1.1 200 OK\r\n\r\n")


def test_request_head_and_origin_key():
    parts = urlsplit("https://user:pw@api.example.com:443/v1/chat?x=1")
    head = request_head(
        "POST", parts, [("Authorization", "Bearer k"), ("Content-Length", "9"), ("Transfer-Encoding", "chunked")]
    )
    assert head == (
        "POST /v1/chat?x=1 HTTP/1.1\r\nHost: api.example.com\r\nUser-Agent: llmeter-flows\r\n"
        "Accept-Encoding: identity\r\nAuthorization: Bearer k\r\n"
    )
    assert request_head("GET", urlsplit("http://h:8080"), [("host", "other"), ("User-Agent", "me")]) == (
        "GET / HTTP/1.1\r\nAccept-Encoding: identity\r\nhost: other\r\nUser-Agent: me\r\n"
    )
    assert origin_key(parts) == ("https", "api.example.com", 443)
    assert origin_key(urlsplit("HTTP://h:8080/x")) == ("http", "h", 8080)
