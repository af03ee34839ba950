"""The SageMaker runtime emulator through real boto3 over HTTP."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError, EventStreamError

from llmeter_core.emulator.tokens import full_text

TGI = {"inputs": "one two three", "parameters": {"max_new_tokens": 50, "details": True}}
CHAT = {
    "messages": [{"role": "user", "content": "one two three"}],
    "max_tokens": 50,
    "stream_options": {"include_usage": True},
}


def _sse_json(raw: bytes) -> list[dict]:
    """Parse reassembled SSE (``data:`` with or without a space), skipping [DONE]."""
    out = []
    for line in raw.decode().splitlines():
        if line.startswith("data:"):
            data = line[5:].strip()
            if data != "[DONE]":
                out.append(json.loads(data))
    return out


def test_invoke_endpoint_tgi_and_chat(emulator_thread, aws_client):
    emu = emulator_thread("sagemaker", ttft_ms=0, itl_ms=0, output_tokens=5)
    client = aws_client("sagemaker-runtime", emu.url)
    reply = client.invoke_endpoint(EndpointName="my-endpoint", Body=json.dumps(TGI), ContentType="application/json")
    body = json.loads(reply["Body"].read())
    assert body[0]["generated_text"] == full_text(5)
    assert body[0]["details"]["generated_tokens"] == 5 and body[0]["details"]["finish_reason"] == "eos_token"
    assert reply["InvokedProductionVariant"] == "AllTraffic"
    assert emu.request_truth(reply["ResponseMetadata"]["RequestId"])["input_tokens"] == 3
    plain = json.loads(
        client.invoke_endpoint(EndpointName="e", Body=json.dumps({"inputs": "x", "parameters": {"max_new_tokens": 2}}))[
            "Body"
        ].read()
    )
    assert plain == [{"generated_text": "tok0 tok1"}]
    chat = json.loads(client.invoke_endpoint(EndpointName="e", Body=json.dumps(CHAT))["Body"].read())
    assert chat["choices"][0]["message"]["content"] == full_text(5)
    assert chat["usage"]["prompt_tokens"] == 3 and chat["usage"]["completion_tokens"] == 5


def test_tgi_stream_is_split_across_payload_parts(emulator_thread, aws_client):
    emu = emulator_thread("sagemaker", ttft_ms=2, itl_ms=1, output_tokens=6)
    client = aws_client("sagemaker-runtime", emu.url)
    reply = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=json.dumps(TGI))
    parts = [event["PayloadPart"]["Bytes"] for event in reply["Body"]]
    assert any(not part.endswith(b"\n\n") for part in parts)  # lines cut across events
    with pytest.raises(json.JSONDecodeError):
        json.loads(parts[0].decode().removeprefix("data:"))
    events = _sse_json(b"".join(parts))
    assert "".join(event["token"]["text"] for event in events) == full_text(6)
    assert events[-1]["generated_text"] == full_text(6)
    assert events[-1]["details"]["generated_tokens"] == 6
    assert all(event["generated_text"] is None for event in events[:-1])
    assert emu.stats()["completed"] == 1


def test_chat_stream_with_usage(emulator_thread, aws_client):
    emu = emulator_thread("sagemaker", ttft_ms=0, itl_ms=0, output_tokens=4)
    client = aws_client("sagemaker-runtime", emu.url)
    reply = client.invoke_endpoint_with_response_stream(EndpointName="e", Body=json.dumps({**CHAT, "max_tokens": 3}))
    raw = b"".join(event["PayloadPart"]["Bytes"] for event in reply["Body"])
    assert raw.rstrip().endswith(b"data: [DONE]")
    chunks = _sse_json(raw)
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "tok0 tok1 tok2"
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]][-1] == "length"
    no_usage = client.invoke_endpoint_with_response_stream(
        EndpointName="e", Body=json.dumps({"messages": CHAT["messages"]})
    )
    assert b'"usage"' not in b"".join(event["PayloadPart"]["Bytes"] for event in no_usage["Body"])


def test_throttling_server_error_and_stream_error(emulator_thread, aws_client):
    throttled = aws_client("sagemaker-runtime", emulator_thread("sagemaker", rate_429=1.0).url)
    with pytest.raises(ClientError) as info:
        throttled.invoke_endpoint(EndpointName="e", Body=json.dumps(TGI))
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    failing = aws_client("sagemaker-runtime", emulator_thread("sagemaker", rate_500=1.0).url)
    with pytest.raises(failing.exceptions.InternalFailure):
        failing.invoke_endpoint_with_response_stream(EndpointName="e", Body=json.dumps(TGI))
    emu = emulator_thread("sagemaker", ttft_ms=0, itl_ms=0, output_tokens=10, rate_disconnect=1.0)
    cut = aws_client("sagemaker-runtime", emu.url)
    parts = []
    with pytest.raises(EventStreamError) as stream_error:
        for event in cut.invoke_endpoint_with_response_stream(EndpointName="e", Body=json.dumps(TGI))["Body"]:
            parts.append(event["PayloadPart"]["Bytes"])
    assert stream_error.value.response["Error"]["Code"] == "ModelStreamError"
    assert "".join(e["token"]["text"] for e in _sse_json(b"".join(parts))) == full_text(5)
