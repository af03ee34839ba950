import orjson
import pytest

from llmeter_core import PayloadError, load_payloads


def test_sources(tmp_path):
    assert load_payloads({"a": 1}) == [{"a": 1}]
    assert load_payloads([{"a": 1}, {"a": 2}]) == [{"a": 1}, {"a": 2}]
    (tmp_path / "one.json").write_bytes(orjson.dumps({"a": 1}))
    (tmp_path / "two.jsonl").write_text('{"a": 2}\n\n{"a": 3}\n')
    assert load_payloads(tmp_path / "one.json") == [{"a": 1}]
    assert load_payloads(str(tmp_path / "two.jsonl")) == [{"a": 2}, {"a": 3}]
    assert load_payloads(tmp_path) == [{"a": 1}, {"a": 2}, {"a": 3}]


def test_malformed_jsonl_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"a": 1}\n{"a": 2}\n{"a": \n')
    with pytest.raises(PayloadError) as info:
        load_payloads(path)
    assert info.value.line == 3 and "line 3" in str(info.value) and "p.jsonl" in str(info.value)


@pytest.mark.parametrize(
    "name, text, message",
    [
        ("missing.jsonl", None, "no such file"),
        ("x.txt", "{}", ".json or .jsonl"),
        ("e.jsonl", "", "no payloads"),
        ("l.jsonl", "[1]\n", "line 1"),
        ("b.json", "[1, 2]", "list of objects"),
        ("sub", "<dir>", "no .json or .jsonl"),
    ],
)
def test_bad_sources(tmp_path, name, text, message):
    path = tmp_path / name
    if text == "<dir>":
        path.mkdir()
    elif text is not None:
        path.write_text(text)
    with pytest.raises(PayloadError, match=message):
        load_payloads(path)


def test_bad_inline_payloads():
    with pytest.raises(PayloadError, match=r"payload\[1\]"):
        load_payloads([{"a": 1}, "text"])
    with pytest.raises(PayloadError, match="no payloads"):
        load_payloads([])
