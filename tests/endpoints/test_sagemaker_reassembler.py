"""PayloadReassembler on hand-made byte splits: every way a PayloadPart can cut a stream."""

from __future__ import annotations

import itertools

import pytest

from llmeter_core.endpoints.sagemaker import PayloadReassembler

SSE = (
    b'data:{"token":{"text":"Hi","special":false}}\n\n'
    b'data: {"token":{"text":" th\xc3\xa9re","special":false}}\n\n'
    b'data:{"token":{"text":"</s>","special":true},"details":{"generated_tokens":3}}\n\n'
    b"data: [DONE]\n\n"
)
EXPECTED = [
    {"token": {"text": "Hi", "special": False}},
    {"token": {"text": " th\u00e9re", "special": False}},
    {"token": {"text": "</s>", "special": True}, "details": {"generated_tokens": 3}},
]


def _feed_all(parts: list[bytes]) -> tuple[list, PayloadReassembler]:
    reassembler = PayloadReassembler()
    values = []
    for part in parts:
        values.extend(reassembler.feed(part))
    values.extend(reassembler.flush())
    return values, reassembler


def _split_at(data: bytes, offsets: list[int]) -> list[bytes]:
    bounds = [0, *offsets, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


def test_whole_stream_in_one_part():
    assert _feed_all([SSE])[0] == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 3, 7, 13, 50])
def test_fixed_size_parts(size):
    parts = [SSE[i : i + size] for i in range(0, len(SSE), size)]
    assert _feed_all(parts)[0] == EXPECTED


def test_every_single_cut_point():
    for cut in range(1, len(SSE)):
        assert _feed_all(_split_at(SSE, [cut]))[0] == EXPECTED, cut


def test_cut_inside_a_multibyte_character():
    index = SSE.index(b"\xc3\xa9")
    values, _ = _feed_all(_split_at(SSE, [index + 1]))  # between the two bytes of "é"
    assert values[1]["token"]["text"] == " th\u00e9re"


def test_values_are_returned_as_soon_as_their_line_is_complete():
    reassembler = PayloadReassembler()
    assert reassembler.feed(b'data:{"a":') == []
    assert reassembler.feed(b"1}") == []  # no newline yet: it may still be cut
    assert reassembler.feed(b'\n\ndata:{"b"') == [{"a": 1}]
    assert reassembler.feed(b":2}\n") == [{"b": 2}]


def test_json_lines_without_sse_and_a_last_line_without_newline():
    data = b'{"generated_text": "a"}\n{"generated_text": "b"}\n{"generated_text": "c"}'
    values, _ = _feed_all(_split_at(data, [5, 30]))
    assert values == [{"generated_text": "a"}, {"generated_text": "b"}, {"generated_text": "c"}]


def test_crlf_and_sse_fields_and_comments_are_skipped():
    data = b': keep-alive\r\nevent: token\r\nid: 7\r\ndata: {"x": 1}\r\n\r\nretry: 100\r\n'
    values, reassembler = _feed_all([data])
    assert values == [{"x": 1}]
    assert reassembler.skipped == 0


def test_concatenated_objects_on_one_line():
    values, _ = _feed_all([b'{"a": 1}{"a": 2}', b'{"a"', b": 3}\n"])
    assert values == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_pretty_printed_object_over_several_lines():
    data = b'{\n  "token": {\n    "text": "x"\n  }\n}\n{"token": {"text": "y"}}\n'
    values, _ = _feed_all(_split_at(data, [3, 17]))
    assert values == [{"token": {"text": "x"}}, {"token": {"text": "y"}}]


def test_non_json_lines_are_counted_and_skipped():
    values, reassembler = _feed_all([b"hello world\n", b'{"ok": true}\n', b"{broken\n", b'{"ok": 2}\n'])
    assert values == [{"ok": True}, {"ok": 2}]
    assert reassembler.skipped == 2


def test_stream_ending_inside_a_value_raises():
    reassembler = PayloadReassembler()
    reassembler.feed(b'{"a": 1}\n{"b": [1, 2,\n')
    with pytest.raises(ValueError, match="inside a JSON value"):
        reassembler.flush()
