"""What every AWS endpoint shares (``endpoints/aws.py``): the client is opened warm, pooled
connections are reused, the normal AWS configuration is honoured and no secret is written."""

from __future__ import annotations

import asyncio

import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.base import public_url
from llmeter_core.endpoints.bedrock_converse import BedrockConverseStream
from llmeter_core.endpoints.bedrock_invoke import BedrockInvokeModelStream
from llmeter_core.endpoints.sagemaker import SageMakerStreamEndpoint
from llmeter_core.errors import ConfigError
from tests.timing import LoopLag

from .aws_support import SECRET_KEY


async def test_open_prewarms_connections_without_invoking_anything(emulator, count_connects):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=2)
    endpoint = BedrockConverseStream("m", endpoint_url=emu.url, prewarm_connections=3)
    async with endpoint:
        assert len(count_connects) == 3  # opened by the HEAD / warm-up requests
        assert emu.stats()["requests"] == 0  # no model was invoked
        outs = await asyncio.gather(*(endpoint.call(endpoint.create_payload("a"), timeout=5) for _ in range(3)))
        assert [o.response_text for o in outs] == [full_text(2)] * 3
        assert len(count_connects) == 3  # the three concurrent requests found them in the pool


async def test_prewarm_zero_sends_nothing(emulator, count_connects):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=2)
    async with BedrockConverseStream("m", endpoint_url=emu.url, prewarm_connections=0) as endpoint:
        assert count_connects == []
        out = await endpoint.call(endpoint.create_payload("a"), timeout=5)
    assert out.error is None and len(count_connects) == 1


async def test_sequential_requests_reuse_one_connection(emulator, count_connects):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=3)
    async with BedrockInvokeModelStream("anthropic.claude-x", endpoint_url=emu.url) as endpoint:
        for _ in range(5):
            out = await endpoint.call(endpoint.create_payload("a b"), timeout=5)
            assert out.error is None, out.error
    assert len(count_connects) == 1


async def test_first_request_is_not_slower_than_the_next(emulator):
    """Lazy SDK set-up (~50 ms of HTTP session and TLS context) happens in open(), not in
    the first measured request."""
    emu = await emulator("bedrock", ttft_ms=30, itl_ms=0, output_tokens=1)
    async with BedrockConverseStream("m", endpoint_url=emu.url) as endpoint:
        async with LoopLag() as lag:
            ttfts = [
                (await endpoint.call(endpoint.create_payload("a"), timeout=5)).time_to_first_token for _ in range(4)
            ]
    assert ttfts[0] < min(ttfts[1:]) + 0.025 + lag.worst_ms / 1000, (ttfts, lag.worst_ms)


async def test_endpoint_url_from_the_environment(emulator, monkeypatch):
    emu = await emulator("bedrock", ttft_ms=0, itl_ms=0, output_tokens=2)
    monkeypatch.setenv("AWS_ENDPOINT_URL_BEDROCK_RUNTIME", emu.url)
    async with BedrockConverseStream("m") as endpoint:
        out = await endpoint.call(endpoint.create_payload("a"), timeout=5)
    assert out.response_text == full_text(2)
    assert emu.state.truth.get(out.id) is not None


async def test_sagemaker_endpoint_url_from_the_environment(emulator, monkeypatch):
    emu = await emulator("sagemaker", ttft_ms=0, itl_ms=0, output_tokens=2)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", emu.url)
    async with SageMakerStreamEndpoint("my-endpoint") as endpoint:
        out = await endpoint.call(endpoint.create_payload("a"), timeout=5)
    assert out.response_text == full_text(2)


def test_public_url_strips_user_info_and_query():
    assert (
        public_url("https://user:pa55@bedrock.example.com:8443/base?token=abc#x")
        == "https://bedrock.example.com:8443/base"
    )
    assert public_url(None) is None


@pytest.mark.parametrize(
    "field, value",
    [
        ("retry_mode", "sometimes"),
        ("max_attempts", 0),
        ("max_pool_connections", 0),
        ("read_timeout", 0),
        ("prewarm_connections", -1),
    ],
)
def test_settings_are_validated(aws_env, field, value):
    with pytest.raises(ConfigError) as info:
        create_endpoint("bedrock-converse-stream", model_id="m", **{field: value})
    assert info.value.field == f"endpoint.{field}"


def test_unknown_spec_field_is_named(aws_env):
    with pytest.raises(ConfigError) as info:
        create_endpoint("bedrock-converse", model_id="m", regoin="us-east-1")
    assert info.value.field == "endpoint.regoin"


async def test_call_before_open_is_an_error_response(aws_env):
    endpoint = BedrockConverseStream("m", endpoint_url="http://127.0.0.1:9")
    out = await endpoint.call(endpoint.create_payload("a"), timeout=5)
    assert out.error_type == "RuntimeError" and "not open" in out.error


async def test_unreachable_endpoint_opens_and_records_connection_errors(aws_env):
    async with BedrockConverseStream("m", endpoint_url="http://127.0.0.1:9", connect_timeout=1) as endpoint:
        out = await endpoint.call(endpoint.create_payload("a"), timeout=5)
    assert out.error_type == "EndpointConnectionError"


async def test_signature_still_matches_the_bytes_on_the_wire(aws_env):
    """The SigV4 signature botocore computed must hold for what DirectHTTPSession actually
    sent (path encoding, headers, body): recompute it from the received bytes."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    received = {}

    async def serve(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        body = await reader.readexactly(int(headers["Content-Length"]))
        received.update(request_line=lines[0], headers=headers, body=body)
        error = b'{"message":"no"}'
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\nx-amzn-ErrorType: ValidationException\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(error), error)
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    model = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
    try:
        async with BedrockConverseStream(model, endpoint_url=url, prewarm_connections=0) as endpoint:
            out = await endpoint.call(endpoint.create_payload("a prompt with ünïcode"), timeout=5)
    finally:
        server.close()
        await server.wait_closed()
    assert out.error_type == "ValidationException"
    method, target, _ = received["request_line"].split(" ")
    assert target == "/model/us.anthropic.claude-3-5-haiku-20241022-v1%3A0/converse-stream"
    headers = received["headers"]
    authorization = headers["Authorization"]
    signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
    request = AWSRequest(
        method=method,
        url=url + target,
        data=received["body"],
        headers={k: v for k, v in headers.items() if k.lower() in signed},
    )
    request.context["timestamp"] = headers["X-Amz-Date"]
    signer = SigV4Auth(Credentials("AKIDUMMY", SECRET_KEY, SECRET_KEY + "-token"), "bedrock", "us-east-1")
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    assert authorization.endswith(f"Signature={expected}")
    assert "host" in signed and "x-amz-date" in signed
