"""The contract every endpoint type keeps, checked on each registered type (and each HTTP
client it offers) against its emulator, by calling the endpoint directly (through a Runner the
tokenizer fallback would hide a missing count):

- a 429 or a 500 is recorded with the endpoint's ``error_type`` for it, the server's message,
  and is not retried;
- a stream cut midway (a dropped connection, or an in-band error) keeps the partial text and
  its times, and the next request on the endpoint works;
- a request cancelled in flight (the end of a run in ``cancel`` mode, an interrupt) is recorded
  ``incomplete``, keeping what arrived;
- ``to_config()`` and ``repr()`` hold no secret (API key, header value, password in a URL, AWS
  credentials);
- every response has an id (the server's, when it gives one) and a ``request_time`` to the
  microsecond;
- ``num_tokens_input`` is the whole prompt, the tokens read from and written to the prompt
  cache included, whatever the API calls its counts (OpenAI's ``prompt_tokens`` includes cached
  tokens; Bedrock's ``inputTokens``, Anthropic's ``input_tokens`` and Nova's ``inputTokens``
  leave them out and report them beside), checked against the emulator's ground truth.

A new endpoint type gets these tests by adding its ``Case`` to ``CASES`` (the first test fails
until every type in ``ENDPOINT_TYPES`` has one).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest

from llmeter_core.clock import utc_now
from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import ENDPOINT_TYPES, create_endpoint
from llmeter_core.endpoints.transport.clients import HTTP_CLIENTS

from .aws_support import SECRET_KEY

PROMPT = "one two three four five six seven eight"  # 8 words: the emulator's whole prompt
API_KEY = "sk-contract-secret-4411"
HEADER_SECRET = "contract-header-secret-5522"
URL_PASSWORD = "contract-url-password-6633"
AWS_SECRETS = (SECRET_KEY, SECRET_KEY + "-token", "AKIDUMMY")  # aws_env's


@dataclass(frozen=True)
class Case:
    """One endpoint type (with one HTTP client) and what its contract says."""

    type: str
    emulator: str
    options: dict[str, Any]
    #: error_type of a 429 and of a 500 (None: any error_type, the SDK names it)
    throttled: str
    server_error: str | None
    #: disconnect_mode -> error_type of a stream cut midway (None: any but a timeout); {} when not streamed
    cut: dict[str, str | None] = field(default_factory=dict)
    #: the response id is the server's (its ground-truth key)
    server_id: bool = True

    @property
    def id(self) -> str:
        extras = [str(v) for k, v in self.options.items() if k in ("stream", "http_client")]
        return "-".join([self.type, *extras])

    def endpoint(self, url: str, **extra: Any):
        """The endpoint on the emulator at ``url``, with secrets to keep."""
        if self.emulator == "openai" and self.type != "litellm":
            where = {"base_url": url + "/v1", "api_key": API_KEY, "headers": {"x-team-token": HEADER_SECRET}}
        elif self.type == "anthropic-messages":
            where = {"base_url": url, "api_key": API_KEY, "headers": {"x-team-token": HEADER_SECRET}}
        elif self.type == "litellm":
            where = {"api_base": url + "/v1", "api_key": API_KEY}
        else:
            where = {"endpoint_url": url}
        return create_endpoint(self.type, **{**self.options, **where, **extra})


def _openai(api: str, stream: bool, client: str) -> Case:
    cut = {"drop": {"direct": "ServerDisconnected", "aiohttp": "ClientPayloadError"}[client], "error": "stream_error"}
    return Case(
        f"openai-{api}",
        "openai",
        {"model_id": "m", "stream": stream, "http_client": client},
        "http_429",
        "http_500",
        cut if stream else {},
    )


def _aws(kind: str, emulator: str, options: dict[str, Any], client: str, server_error: str, in_band: str) -> Case:
    stream = kind.endswith("stream")
    dropped = {"direct": "ResponseStreamingError", "aiohttp": "ClientPayloadError"}[client]
    return Case(
        kind,
        emulator,
        {**options, "http_client": client},
        "ThrottlingException",
        server_error,
        {"error": in_band, "drop": dropped} if stream else {},
    )


CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"
CASES = [
    *[
        _openai(api, stream, client)
        for api in ("chat", "responses")
        for stream in (True, False)
        for client in HTTP_CLIENTS
    ],
    *[
        _aws(kind, "bedrock", {"model_id": CLAUDE}, client, "InternalServerException", "modelStreamErrorException")
        for kind in ("bedrock-converse", "bedrock-converse-stream", "bedrock-invoke", "bedrock-invoke-stream")
        for client in HTTP_CLIENTS
    ],
    *[
        _aws(kind, "sagemaker", {"endpoint_name": "my-endpoint"}, client, "InternalFailure", "ModelStreamError")
        for kind in ("sagemaker", "sagemaker-stream")
        for client in HTTP_CLIENTS
    ],
    *[
        Case(
            "anthropic-messages",
            "anthropic",
            {"model_id": "claude", "stream": stream},
            "http_429",
            "http_500",
            {"drop": None, "error": "overloaded_error"} if stream else {},
        )
        for stream in (True, False)
    ],
    *[
        Case(
            "litellm",
            "openai",
            {"model_id": "openai/emulator-model", "stream": stream},
            "RateLimitError",
            None,
            {"drop": None, "error": None} if stream else {},
            server_id=False,
        )
        for stream in (True, False)
    ],
]
STREAMS = [case for case in CASES if case.cut]


def cases(selected: list[Case] = CASES):
    return pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in selected])


@pytest.fixture
def needs(case: Case):
    """Skip the optional types whose package is not installed (LiteLLM)."""
    if case.type == "litellm":
        pytest.importorskip("litellm")


def test_every_registered_endpoint_type_has_a_case():
    assert {case.type for case in CASES} == set(ENDPOINT_TYPES)


@cases()
@pytest.mark.parametrize("fault", ["429", "500"])
@pytest.mark.usefixtures("needs")
async def test_a_refused_request_is_recorded_with_its_error_type_and_not_retried(emulator, case, fault):
    emu = await emulator(case.emulator, **{f"rate_{fault}": 1.0})
    async with case.endpoint(emu.url) as endpoint:
        out = await endpoint.call(endpoint.payload_for(PROMPT, 10), timeout=10)
    expected = case.throttled if fault == "429" else case.server_error
    assert out.error_type == (expected or out.error_type) and out.error_type not in (None, "timeout"), out.error
    if case.server_id:
        assert "emulated" in out.error  # the server's own message
    assert out.response_text is None and out.time_to_first_token is None
    assert emu.stats()["requests"] == 1  # recorded, not retried


@cases(STREAMS)
@pytest.mark.parametrize("mode", ["drop", "error"])
@pytest.mark.usefixtures("needs")
async def test_a_stream_cut_midway_keeps_the_partial_text_and_the_next_request_works(emulator, case, mode):
    emu = await emulator(
        case.emulator, ttft_ms=10, itl_ms=2, output_tokens=10, rate_disconnect=1.0, disconnect_mode=mode
    )
    async with case.endpoint(emu.url) as endpoint:
        out = await endpoint.call(endpoint.payload_for(PROMPT, 10), timeout=10)
        again = await endpoint.call(endpoint.payload_for(PROMPT, 10), timeout=10)  # faulted too: half again
    expected = case.cut[mode]
    for response in (out, again):
        assert response.error_type == (expected or response.error_type), response.error
        assert response.error_type not in (None, "timeout"), response.error
        assert response.response_text == full_text(5)  # the emulator cuts after half the tokens
        assert 0 < response.time_to_first_token <= response.time_to_last_token
    if case.server_id:
        truth = emu.state.truth.get(out.id)
        assert truth is not None and truth.tokens_sent == 5


@cases()
@pytest.mark.usefixtures("needs")
async def test_a_request_cancelled_in_flight_is_recorded_incomplete_with_what_arrived(emulator, case):
    emu = await emulator(case.emulator, ttft_ms=10, itl_ms=50, output_tokens=40)
    async with case.endpoint(emu.url) as endpoint:
        task = asyncio.ensure_future(endpoint.call(endpoint.payload_for(PROMPT, 40), timeout=30))
        # the emulator's own record says when the request is in flight (and, for a stream, when
        # two tokens were written: the client, on the same loop, has read the first one by then)
        for _ in range(2000):
            records = list(emu.state.truth.records.values())
            if records and (records[0].tokens_sent >= 2 or not records[0].stream):
                break
            await asyncio.sleep(0.005)
        assert records, "the request never reached the emulator"
        task.cancel()
        out = await task
    assert out.error_type == "incomplete", out.error
    assert out.id
    if records[0].stream:
        assert out.response_text and full_text(40).startswith(out.response_text), out.response_text
    assert not records[0].completed


@cases()
@pytest.mark.usefixtures("needs")
async def test_to_config_and_repr_hold_no_secret(emulator, case):
    emu = await emulator(case.emulator, ttft_ms=0, itl_ms=0, output_tokens=2)
    host = emu.url.split("//", 1)[1]
    with_password = case.endpoint(f"http://user:{URL_PASSWORD}@{host}")
    endpoint = case.endpoint(emu.url)
    async with endpoint:
        out = await endpoint.call(endpoint.payload_for(PROMPT, 2), timeout=10)
        opened = str(endpoint.to_config()) + repr(endpoint)
    assert out.error is None, out.error
    written = opened + str(endpoint.to_config()) + str(with_password.to_config()) + repr(with_password)
    for secret in (API_KEY, HEADER_SECRET, URL_PASSWORD, *AWS_SECRETS):
        assert secret not in written, secret
    assert endpoint.to_config()["type"] == case.type


@cases()
@pytest.mark.usefixtures("needs")
async def test_every_response_has_an_id_and_a_request_time_to_the_microsecond(emulator, case):
    emu = await emulator(case.emulator, ttft_ms=0, itl_ms=0, output_tokens=2)
    refusing = await emulator(case.emulator, rate_429=1.0)
    outs = []
    for emu_url in (emu.url, refusing.url):
        async with case.endpoint(emu_url) as endpoint:
            before = utc_now()
            outs.append(await endpoint.call(endpoint.payload_for(PROMPT, 2), timeout=10))
            after = utc_now()
        assert before <= outs[-1].request_time <= after
        stamp = orjson.loads(outs[-1].to_json())["request_time"]
        assert len(stamp.rsplit(".", 1)[1]) == len("123456Z"), stamp
    ok, refused = outs
    assert ok.error is None and refused.error_type == case.throttled
    assert ok.id and refused.id and ok.id != refused.id
    if case.server_id:
        assert emu.state.truth.get(ok.id) is not None


# -- num_tokens_input: the whole prompt, on every body format ------------------------------------
CACHE_READ, CACHE_WRITE = 3, 2

# (endpoint type, endpoint options but the URL, what the API reports apart from its input count)
TOKEN_CASES = [
    ("openai-chat", {"model_id": "m", "stream": True}, "cache reads in prompt_tokens"),
    ("openai-chat", {"model_id": "m", "stream": False}, "cache reads in prompt_tokens"),
    ("openai-responses", {"model_id": "m", "stream": True}, "cache reads in input_tokens"),
    ("openai-responses", {"model_id": "m", "stream": False}, "cache reads in input_tokens"),
    ("bedrock-converse", {"model_id": CLAUDE}, "reads and writes apart"),
    ("bedrock-converse-stream", {"model_id": "amazon.nova-lite-v1:0"}, "reads and writes apart"),
    *[
        (kind, {"model_id": model_id}, apart)
        for kind in ("bedrock-invoke", "bedrock-invoke-stream")
        for model_id, apart in (
            (CLAUDE, "reads and writes apart"),
            ("us." + CLAUDE, "reads and writes apart"),
            ("amazon.nova-lite-v1:0", "reads and writes apart"),
            ("us.meta.llama3-1-8b-instruct-v1:0", "no cache"),
            ("amazon.titan-text-express-v1", "no cache"),
            ("openai.gpt-oss-20b-1:0", "body: whole prompt; headers: reads and writes apart"),
        )
    ],
    *[
        (kind, {"endpoint_name": "my-endpoint", "output_format": output_format}, apart)
        for kind in ("sagemaker", "sagemaker-stream")
        for output_format, apart in (("tgi", "no cache reported"), ("openai", "cache reads in prompt_tokens"))
    ],
]


def _url_options(kind: str, url: str) -> dict[str, str]:
    return (
        {"base_url": url + "/v1", "api_key": "sk-fake-contract-test"}
        if kind.startswith("openai")
        else {"endpoint_url": url}
    )


@pytest.mark.parametrize(
    "kind, options, apart",
    TOKEN_CASES,
    ids=[f"{k}-{o.get('model_id') or o['output_format']}-{o.get('stream', '')}" for k, o, _ in TOKEN_CASES],
)
async def test_num_tokens_input_is_the_whole_prompt(emulator, kind, options, apart):
    emu = await emulator(
        "all", ttft_ms=0, itl_ms=0, output_tokens=3, cached_tokens=CACHE_READ, cache_write_tokens=CACHE_WRITE
    )
    async with create_endpoint(kind, **options, **_url_options(kind, emu.url)) as endpoint:
        out = await endpoint.call(endpoint.payload_for(PROMPT, 10), timeout=10)
    assert out.error is None, out.error
    truth = emu.state.truth.get(out.id)
    assert truth is not None, f"no ground truth for request id {out.id}"
    assert truth.input_tokens == len(PROMPT.split())  # the ground truth's whole prompt
    assert out.num_tokens_input == truth.input_tokens, (apart, out.num_tokens_input, truth)
    assert out.num_tokens_output == truth.output_tokens
    # cache reads, where the API reports them, are the emulator's; never part of anything else
    assert out.num_tokens_input_cached in (None, truth.cached_tokens), truth
    if apart.startswith(("reads and writes apart", "body: whole")):
        assert truth.cached_tokens == CACHE_READ and truth.cache_write_tokens == CACHE_WRITE
        assert out.num_tokens_input_cached == CACHE_READ
        if kind.startswith("bedrock"):  # as Converse does: cache writes are kept beside the counts
            assert out.annotations.get("cache_write_input_tokens") == CACHE_WRITE
