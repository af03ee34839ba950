"""The Bedrock runtime emulator through real boto3 over HTTP, and its stream timing."""

from __future__ import annotations

import base64
import json

import orjson
import pytest
from botocore.eventstream import EventStreamBuffer
from botocore.exceptions import ClientError, ConnectionClosedError, EventStreamError, ResponseStreamingError
from urllib3.exceptions import ProtocolError

from llmeter_core.emulator.tokens import full_text
from tests.timing import LoopLag

MESSAGES = [{"role": "user", "content": [{"text": "one two three four"}]}]
CLAUDE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"


def test_converse_text_usage_cache_and_request_id(emulator_thread, aws_client):
    emu = emulator_thread("bedrock", ttft_ms=20, itl_ms=2, output_tokens=6, cached_tokens=3)
    client = aws_client("bedrock-runtime", emu.url)
    reply = client.converse(modelId=CLAUDE, messages=MESSAGES, system=[{"text": "be kind"}])
    assert reply["output"]["message"]["content"][0]["text"] == full_text(6)
    assert reply["stopReason"] == "end_turn"
    usage = reply["usage"]
    assert usage["cacheReadInputTokens"] == 3
    assert usage["inputTokens"] == 6 - 3  # 4 prompt + 2 system words; cached ones reported apart
    assert usage["outputTokens"] == 6 and usage["totalTokens"] == 12
    assert reply["metrics"]["latencyMs"] >= 30  # 20 + 5 * 2
    truth = emu.request_truth(reply["ResponseMetadata"]["RequestId"])
    assert truth["api"] == "bedrock.converse" and truth["input_tokens"] == 6 and truth["completed"]
    capped = client.converse(modelId=CLAUDE, messages=MESSAGES, inferenceConfig={"maxTokens": 2})
    assert capped["stopReason"] == "max_tokens"
    assert capped["output"]["message"]["content"][0]["text"] == "tok0 tok1"


def test_converse_stream_events(emulator_thread, aws_client):
    emu = emulator_thread("bedrock", ttft_ms=5, itl_ms=1, output_tokens=4, cached_tokens=2)
    client = aws_client("bedrock-runtime", emu.url)
    arn = "arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0"
    reply = client.converse_stream(modelId=arn, messages=MESSAGES)
    events = list(reply["stream"])
    names = [next(iter(event)) for event in events]
    assert names == ["messageStart"] + ["contentBlockDelta"] * 4 + ["contentBlockStop", "messageStop", "metadata"]
    text = "".join(e["contentBlockDelta"]["delta"]["text"] for e in events if "contentBlockDelta" in e)
    assert text == full_text(4)
    metadata = events[-1]["metadata"]
    assert metadata["usage"]["cacheReadInputTokens"] == 2
    assert metadata["usage"]["outputTokens"] == 4
    assert metadata["metrics"]["latencyMs"] >= 8
    assert emu.stats()["requests_by_api"] == {"bedrock.converse_stream": 1}


async def test_converse_stream_ttft_and_no_drift(emulator, timed_post):
    emu = await emulator("bedrock", ttft_ms=100, itl_ms=10, output_tokens=20)
    async with LoopLag() as lag:  # the loop's own lateness in this test: the allowance on a busy machine
        times, raw = await timed_post(
            emu.url, "/model/anthropic.claude-v2%3A1/converse-stream", {"messages": MESSAGES}, b"contentBlockDelta"
        )
    assert len(times) == 20
    assert 100 <= times[0] <= 130 + lag.worst_ms
    assert 290 <= times[-1] <= 315 + lag.worst_ms
    body = raw.split(b"\r\n\r\n", 1)[1]
    assert b"transfer-encoding: chunked" in raw.split(b"\r\n\r\n", 1)[0].lower()
    decoded = _dechunk(body)
    buffer = EventStreamBuffer()
    buffer.add_data(decoded)
    kinds = [message.headers[":event-type"] for message in buffer]
    assert kinds[0] == "messageStart" and kinds[-1] == "metadata" and kinds.count("contentBlockDelta") == 20


def _dechunk(body: bytes) -> bytes:
    out = b""
    while body:
        size_line, body = body.split(b"\r\n", 1)
        size = int(size_line, 16)
        if size == 0:
            break
        out += body[:size]
        body = body[size + 2 :]
    return out


FAMILY_CASES = [
    (
        "anthropic.claude-3-haiku-20240307-v1:0",
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 50,
            "messages": [{"role": "user", "content": "a b c"}],
        },
        lambda b: b["content"][0]["text"],
        lambda b: (b["usage"]["input_tokens"], b["usage"]["output_tokens"]),
    ),
    (
        "meta.llama3-70b-instruct-v1:0",
        {"prompt": "a b c", "max_gen_len": 50},
        lambda b: b["generation"],
        lambda b: (b["prompt_token_count"], b["generation_token_count"]),
    ),
    (
        "amazon.nova-micro-v1:0",
        {
            "schemaVersion": "messages-v1",
            "messages": [{"role": "user", "content": [{"text": "a b c"}]}],
            "inferenceConfig": {"max_new_tokens": 50},
        },
        lambda b: b["output"]["message"]["content"][0]["text"],
        lambda b: (b["usage"]["inputTokens"], b["usage"]["outputTokens"]),
    ),
    (
        "amazon.titan-text-express-v1",
        {"inputText": "a b c", "textGenerationConfig": {"maxTokenCount": 50}},
        lambda b: b["results"][0]["outputText"],
        lambda b: (b["inputTextTokenCount"], b["results"][0]["tokenCount"]),
    ),
    (
        "openai.gpt-oss-20b-1:0",
        {"messages": [{"role": "user", "content": "a b c"}], "max_tokens": 50},
        lambda b: b["choices"][0]["message"]["content"],
        lambda b: (b["usage"]["prompt_tokens"], b["usage"]["completion_tokens"]),
    ),
]


@pytest.mark.parametrize("model_id, body, text_of, counts_of", FAMILY_CASES, ids=lambda v: str(v)[:12])
def test_invoke_model_body_by_family(emulator_thread, model_id, body, text_of, counts_of, aws_client):
    emu = emulator_thread("bedrock", ttft_ms=0, itl_ms=0, output_tokens=5)
    client = aws_client("bedrock-runtime", emu.url)
    reply = client.invoke_model(modelId=model_id, body=json.dumps(body))
    parsed = json.loads(reply["body"].read())
    assert text_of(parsed) == full_text(5)
    assert counts_of(parsed) == (3, 5)
    headers = reply["ResponseMetadata"]["HTTPHeaders"]
    assert headers["x-amzn-bedrock-output-token-count"] == "5"
    assert headers["x-amzn-bedrock-input-token-count"] == "3"
    cut = json.loads(
        client.invoke_model(modelId=model_id, body=json.dumps({**body, **_cap(model_id, 2)}))["body"].read()
    )
    assert text_of(cut) == "tok0 tok1"


def _cap(model_id: str, n: int) -> dict:
    if model_id.startswith("anthropic"):
        return {"max_tokens": n}
    if model_id.startswith("meta"):
        return {"max_gen_len": n}
    if "nova" in model_id:
        return {"inferenceConfig": {"max_new_tokens": n}}
    if "titan" in model_id:
        return {"textGenerationConfig": {"maxTokenCount": n}}
    return {"max_tokens": n}


STREAM_TEXT = {
    "anthropic": lambda c: c.get("delta", {}).get("text", "") if c["type"] == "content_block_delta" else "",
    "meta": lambda c: c["generation"],
    "amazon.nova": lambda c: c.get("contentBlockDelta", {}).get("delta", {}).get("text", ""),
    "amazon.titan": lambda c: c["outputText"],
    "openai": lambda c: (c["choices"][0]["delta"].get("content") or "") if c["choices"] else "",
}


@pytest.mark.parametrize("model_id, body", [(case[0], case[1]) for case in FAMILY_CASES], ids=lambda v: str(v)[:12])
def test_invoke_model_stream_by_family(emulator_thread, model_id, body, aws_client):
    emu = emulator_thread("bedrock", ttft_ms=2, itl_ms=1, output_tokens=5, cached_tokens=1)
    client = aws_client("bedrock-runtime", emu.url)
    reply = client.invoke_model_with_response_stream(modelId=model_id, body=json.dumps(body))
    assert reply["contentType"] == "application/json"
    chunks = [json.loads(event["chunk"]["bytes"]) for event in reply["body"]]
    text_of = next(f for prefix, f in STREAM_TEXT.items() if model_id.startswith(prefix))
    assert "".join(text_of(chunk) for chunk in chunks) == full_text(5)
    metrics = chunks[-1]["amazon-bedrock-invocationMetrics"]
    assert metrics["outputTokenCount"] == 5
    assert metrics["firstByteLatency"] <= metrics["invocationLatency"]
    assert all("amazon-bedrock-invocationMetrics" not in chunk for chunk in chunks[:-1])
    truth = emu.request_truth(reply["ResponseMetadata"]["RequestId"])
    caches = model_id.startswith(("anthropic", "amazon.nova", "openai"))
    assert truth["cached_tokens"] == (1 if caches else 0)
    assert metrics["cacheReadInputTokenCount"] == truth["cached_tokens"]


def test_throttling_and_server_errors(emulator_thread, aws_client):
    throttled = aws_client("bedrock-runtime", emulator_thread("bedrock", rate_429=1.0).url)
    with pytest.raises(throttled.exceptions.ThrottlingException) as info:
        throttled.converse(modelId=CLAUDE, messages=MESSAGES)
    meta = info.value.response["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 429 and meta["RequestId"]
    assert info.value.response["Error"]["Message"].startswith("Too many requests")
    with pytest.raises(throttled.exceptions.ThrottlingException):
        throttled.invoke_model_with_response_stream(modelId=CLAUDE, body=b"{}")
    failing = aws_client("bedrock-runtime", emulator_thread("bedrock", rate_500=1.0).url)
    with pytest.raises(failing.exceptions.InternalServerException):
        failing.invoke_model(modelId=CLAUDE, body=b"{}")
    with pytest.raises(ClientError) as bad:
        failing.invoke_model(modelId=CLAUDE, body=b"not json")
    assert bad.value.response["Error"]["Code"] == "ValidationException"


def test_mid_stream_exception_keeps_the_first_half(emulator_thread, aws_client):
    emu = emulator_thread("bedrock", ttft_ms=1, itl_ms=1, output_tokens=8, rate_disconnect=1.0)
    client = aws_client("bedrock-runtime", emu.url)
    texts = []
    with pytest.raises(EventStreamError) as info:
        for event in client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]:
            if "contentBlockDelta" in event:
                texts.append(event["contentBlockDelta"]["delta"]["text"])
    assert info.value.response["Error"]["Code"] == "modelStreamErrorException"
    assert "".join(texts) == full_text(4)
    chunks = []
    with pytest.raises(EventStreamError):
        body = {"prompt": "x"}
        for event in client.invoke_model_with_response_stream(modelId="meta.llama3", body=json.dumps(body))["body"]:
            chunks.append(json.loads(event["chunk"]["bytes"])["generation"])
    assert "".join(chunks) == full_text(4)
    stats = emu.stats()
    assert stats["faults"] == {"disconnect": 2} and stats["completed"] == 0


def test_dropped_connection_mid_stream(emulator_thread, aws_client):
    emu = emulator_thread("bedrock", ttft_ms=1, itl_ms=1, output_tokens=8, rate_disconnect=1.0, disconnect_mode="drop")
    client = aws_client("bedrock-runtime", emu.url)
    texts = []
    with pytest.raises((ProtocolError, ResponseStreamingError)):
        for event in client.converse_stream(modelId=CLAUDE, messages=MESSAGES)["stream"]:
            if "contentBlockDelta" in event:
                texts.append(event["contentBlockDelta"]["delta"]["text"])
    assert "".join(texts) == full_text(4)
    with pytest.raises(ConnectionClosedError):  # a non-streamed call is dropped before its reply
        client.converse(modelId=CLAUDE, messages=MESSAGES)


async def test_slow_first_byte_and_invoke_chunk_encoding(emulator, timed_post):
    emu = await emulator(
        "bedrock", ttft_ms=10, itl_ms=0, output_tokens=3, rate_slow_first_byte=1.0, slow_first_byte_ms=120
    )
    async with LoopLag() as lag:
        times, raw = await timed_post(
            emu.url, "/model/meta.llama3/invoke-with-response-stream", {"prompt": "x"}, b"HTTP/1.1 200"
        )
    assert 120 <= times[0] <= 150 + lag.worst_ms
    buffer = EventStreamBuffer()
    buffer.add_data(
        raw.split(b"\r\n\r\n", 1)[1] if b"chunked" not in raw[:400].lower() else _dechunk(raw.split(b"\r\n\r\n", 1)[1])
    )
    payloads = [orjson.loads(base64.b64decode(orjson.loads(m.payload)["bytes"])) for m in buffer]
    assert "".join(p["generation"] for p in payloads) == full_text(3)
