"""No client's first request pays a connect: ``open(clients)`` pre-opens one connection per
client (``prewarm_connections``, default one per client up to ``MAX_PREWARM_CONNECTIONS``),
for every endpoint family and both transports. Checked by counting the TCP connections the
client opens (``loop.create_connection``) before the first request and during the run."""

from __future__ import annotations

import pytest

from llmeter_core import Runner, create_endpoint
from llmeter_core.callbacks import Callback
from llmeter_core.endpoints.base import MAX_PREWARM_CONNECTIONS, prewarm_count
from llmeter_core.errors import ConfigError

CLIENTS = 4

CASES = [  # (emulator kind, endpoint type, model)
    ("openai", "openai-chat", "m"),
    ("openai", "openai-responses", "m"),
    ("bedrock", "bedrock-converse-stream", "m"),
    ("bedrock", "bedrock-invoke", "anthropic.claude-x"),
    ("sagemaker", "sagemaker-stream", "my-endpoint"),
]


class _ConnectsAtStart(Callback):
    """Notes how many connections were open when the run's first request was about to go."""

    def __init__(self, connects: list):
        self.connects = connects
        self.at_start: int | None = None

    async def before_run(self, runner) -> None:
        self.at_start = len(self.connects)


def _endpoint(kind: str, type_name: str, model: str, url: str, **options):
    if kind == "openai":
        return create_endpoint(type_name, model_id=model, base_url=url + "/v1", api_key="sk-fake-for-tests", **options)
    return create_endpoint(type_name, model_id=model, endpoint_url=url, **options)


@pytest.mark.parametrize("http_client", ["direct", "aiohttp"])
@pytest.mark.parametrize("kind, type_name, model", CASES, ids=[c[1] for c in CASES])
async def test_every_client_finds_a_warm_connection(emulator, count_connects, kind, type_name, model, http_client):
    emu = await emulator(kind, ttft_ms=20, itl_ms=1, output_tokens=3)
    endpoint = _endpoint(kind, type_name, model, emu.url, http_client=http_client)
    watch = _ConnectsAtStart(count_connects)
    result = await Runner(
        endpoint,
        [endpoint.payload_for("one two three", max_tokens=3)],
        clients=CLIENTS,
        n_requests=3,
        timeout=10,
        callbacks=[watch],
        handle_signals=False,
    ).run()
    assert result.stats["failed_requests"] == 0, result.stats["errors"]
    assert watch.at_start == CLIENTS  # one per client, opened by open()
    assert len(count_connects) == CLIENTS  # none during the run: no first request paid a connect
    assert emu.stats()["requests"] == CLIENTS * 3  # the warm-ups invoked nothing


async def test_an_explicit_setting_wins_and_zero_opens_nothing(emulator, count_connects):
    emu = await emulator("openai", ttft_ms=0, itl_ms=0, output_tokens=2)
    endpoint = _endpoint("openai", "openai-chat", "m", emu.url, prewarm_connections=2)
    await endpoint.open(clients=CLIENTS)
    await endpoint.aclose()
    assert len(count_connects) == 2
    endpoint = _endpoint("openai", "openai-chat", "m", emu.url, prewarm_connections=0)
    await endpoint.open(clients=CLIENTS)
    await endpoint.aclose()
    assert len(count_connects) == 2
    assert endpoint.to_config()["prewarm_connections"] == 0


def test_the_default_is_one_per_client_capped():
    assert prewarm_count(None, 3) == 3
    assert prewarm_count(None, 10_000) == MAX_PREWARM_CONNECTIONS
    assert prewarm_count(None, 10_000, limit=8) == 8  # never beyond the pool's connection limit
    assert prewarm_count(5, 100) == 5


@pytest.mark.parametrize(
    "kind, type_name, options",
    [
        ("openai", "openai-chat", {"prewarm_connections": MAX_PREWARM_CONNECTIONS + 1}),
        ("openai", "openai-chat", {"prewarm_connections": True}),
        ("openai", "openai-chat", {"prewarm_connections": 5, "max_connections": 4}),
        ("bedrock", "bedrock-converse", {"prewarm_connections": -1}),
        ("bedrock", "bedrock-converse", {"prewarm_connections": 9, "max_pool_connections": 8}),
    ],
)
def test_bad_settings_are_refused_by_name(kind, type_name, options):
    with pytest.raises(ConfigError) as info:
        _endpoint(kind, type_name, "m", "http://127.0.0.1:9", **options)
    assert info.value.field == "endpoint.prewarm_connections"


async def test_aiohttp_warm_up_requests_carry_no_api_key(unused_server):
    url, seen = unused_server
    endpoint = create_endpoint(
        "openai-chat",
        model_id="m",
        base_url=url + "/v1",
        api_key="sk-fake-warm-key",
        headers={"x-team-token": "fake-team-token"},
        http_client="aiohttp",
    )
    await endpoint.open(clients=3)
    await endpoint.aclose()
    assert [method for method, _ in seen] == ["HEAD"] * 3
    for _, headers in seen:
        assert "sk-fake-warm-key" not in str(headers) and "fake-team-token" not in str(headers)


@pytest.fixture
async def unused_server():
    """A server that records the method and headers of every request and answers 404."""
    from aiohttp import web

    seen: list[tuple[str, dict]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((request.method, dict(request.headers)))
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    await runner.cleanup()
