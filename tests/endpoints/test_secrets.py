"""Secrets never reach an error text: a server that echoes the request's credentials in its
error (the worst case: a 401 quoting the Authorization header) must not get an API key, a
header value, an AWS access key, secret key or session token into responses.jsonl,
stats.json, summary.json or the logs. Redaction lives in ``Endpoint.call`` (``add_secret``,
``redact``); every endpoint type registers its secrets."""

from __future__ import annotations

import logging

import orjson
import pytest
from aiohttp import web

from llmeter_core import Runner, create_endpoint
from llmeter_core.endpoints.base import MIN_SECRET_CHARS
from llmeter_core.endpoints.openai_chat import OpenAIChatEndpoint

from .aws_support import SECRET_KEY

API_KEY = "sk-fake-api-key-111"
HEADER_TOKEN = "fake-team-token-222"
BEARER = "fake-bearer-333"
ACCESS_KEY = "AKIDUMMY"  # aws_env's
SESSION_TOKEN = SECRET_KEY + "-token"


@pytest.fixture
async def echo_server():
    """Answers every POST with an error whose message quotes every request header (and, for
    the AWS case, the secret key too: a hostile server that knows it). ``status`` and the AWS
    error header follow the path."""

    async def handler(request: web.Request) -> web.Response:
        await request.read()
        quoted = "; ".join(f"{name}={value}" for name, value in request.headers.items())
        if request.path.startswith("/v1/"):
            return web.json_response(
                {"error": {"message": f"bad credentials: {quoted}", "code": "invalid_api_key"}}, status=401
            )
        return web.json_response(
            {"message": f"denied {quoted} secret={SECRET_KEY}"},
            status=403,
            headers={"x-amzn-ErrorType": "AccessDeniedException", "x-amzn-RequestId": "r-1"},
        )

    app = web.Application()
    app.router.add_post("/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


def _written(folder) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file())


@pytest.mark.parametrize(
    "type_name, options, secrets",
    [
        ("openai-chat", {"api_key": API_KEY, "headers": {"x-team-token": HEADER_TOKEN}}, [API_KEY, HEADER_TOKEN]),
        ("openai-responses", {"headers": {"Authorization": f"Bearer {BEARER}"}}, [BEARER]),
        (
            "openai-chat",
            {"api_key": API_KEY, "headers": {"x-team-token": HEADER_TOKEN}, "http_client": "aiohttp"},
            [API_KEY, HEADER_TOKEN],
        ),
        (
            "openai-chat",
            {"stream": False, "headers": {"Authorization": f"Bearer {BEARER}"}, "http_client": "aiohttp"},
            [BEARER],
        ),
    ],
)
async def test_openai_error_echoing_credentials_is_recorded_redacted(
    echo_server, tmp_path, caplog, monkeypatch, type_name, options, secrets
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    caplog.set_level(logging.DEBUG, logger="llmeter_core")  # ours: botocore's DEBUG log dumps headers
    endpoint = create_endpoint(type_name, model_id="m", base_url=echo_server + "/v1", **options)
    result = await Runner(
        endpoint,
        [endpoint.payload_for("hi")],
        clients=2,
        n_requests=2,
        output_path=tmp_path,
        run_name="r",
        handle_signals=False,
    ).run()
    rows = [orjson.loads(line) for line in (tmp_path / "r" / "responses.jsonl").read_bytes().splitlines()]
    assert len(rows) == 4 and {row["error_type"] for row in rows} == {"http_401"}
    assert "bad credentials" in rows[0]["error"] and "***" in rows[0]["error"]
    written = _written(tmp_path) + caplog.text.encode() + orjson.dumps(result.stats)
    for secret in secrets:
        assert secret.encode() not in written


@pytest.mark.parametrize(
    "type_name, model",
    [
        ("bedrock-converse", "m"),
        ("bedrock-converse-stream", "m"),
        ("bedrock-invoke", "anthropic.claude-x"),
        ("sagemaker", "e"),
        ("sagemaker-stream", "e"),
    ],
)
@pytest.mark.parametrize("http_client", ["direct", "aiohttp"])
async def test_aws_error_echoing_credentials_is_recorded_redacted(
    aws_env, echo_server, tmp_path, caplog, type_name, model, http_client
):
    caplog.set_level(logging.DEBUG, logger="llmeter_core")  # ours: botocore's DEBUG log dumps headers
    endpoint = create_endpoint(type_name, model_id=model, endpoint_url=echo_server, http_client=http_client)
    result = await Runner(
        endpoint,
        [endpoint.payload_for("hi")],
        clients=1,
        n_requests=2,
        output_path=tmp_path,
        run_name="r",
        handle_signals=False,
    ).run()
    rows = [orjson.loads(line) for line in (tmp_path / "r" / "responses.jsonl").read_bytes().splitlines()]
    assert {row["error_type"] for row in rows} == {"AccessDeniedException"}
    assert "denied" in rows[0]["error"] and "***" in rows[0]["error"]
    written = _written(tmp_path) + caplog.text.encode() + orjson.dumps(result.stats)
    for secret in (SECRET_KEY, SESSION_TOKEN, ACCESS_KEY):
        assert secret.encode() not in written


def test_redact_covers_a_secret_cut_short_by_a_trimmed_message():
    endpoint = OpenAIChatEndpoint(
        model_id="m",
        base_url="http://127.0.0.1:9/v1",
        api_key=API_KEY,
        headers={"Content-Type": "application/json", "x-flag": "on"},
    )
    assert endpoint.redact(f"key {API_KEY} again {API_KEY}") == "key *** again ***"
    assert endpoint.redact(f"the key was {API_KEY[:9]}...") == "the key was ***..."
    assert endpoint.redact("sent application/json, flag on") == "sent application/json, flag on"  # not secrets
    assert len("on") < MIN_SECRET_CHARS


def test_litellm_registers_its_api_key():
    endpoint = create_endpoint("litellm", model_id="openai/m", api_key=API_KEY)
    assert (
        endpoint.redact(f"AuthenticationError: Incorrect API key provided: {API_KEY}")
        == "AuthenticationError: Incorrect API key provided: ***"
    )
