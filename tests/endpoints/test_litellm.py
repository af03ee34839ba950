"""LiteLLMEndpoint against the OpenAI emulator (through LiteLLM's ``openai/`` provider).

LiteLLM is an optional extra: the tests that need it skip when it is not installed; the
lazy-import contract is tested either way.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from llmeter_core.emulator.tokens import full_text
from llmeter_core.endpoints import create_endpoint
from llmeter_core.endpoints.litellm_endpoint import LiteLLMEndpoint
from llmeter_core.errors import ConfigError

SECRET = "sk-litellm-test-secret-42"
PROMPT = "one two three four"


@pytest.fixture
def litellm():
    return pytest.importorskip("litellm")


def test_building_the_endpoint_does_not_import_litellm():
    code = (
        "import sys; from llmeter_core.endpoints import create_endpoint; "
        "create_endpoint('litellm', model_id='openai/m'); assert 'litellm' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


async def test_open_without_litellm_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)  # makes "import litellm" raise ImportError
    with pytest.raises(ConfigError, match=r"llmeter-flows\[litellm\]"):
        await LiteLLMEndpoint("openai/m").open()


def test_payload_and_config():
    endpoint = create_endpoint(
        "litellm",
        model_id="openai/m",
        api_key=SECRET,
        api_base="http://127.0.0.1:9/v1",
        extra_params={"temperature": 0},
    )
    prepared = endpoint.prepare_payload(LiteLLMEndpoint.create_payload("hi", 7))
    assert prepared == {
        "temperature": 0,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 7,
        "stream_options": {"include_usage": True},
    }
    config = endpoint.to_config()
    assert SECRET not in str(config) and config["api_base"] == "http://127.0.0.1:9/v1"
    with pytest.raises(ConfigError):
        create_endpoint("litellm", model_id="openai/m", api_key=SECRET, api_key_env="X")
    with pytest.raises(ConfigError):
        create_endpoint("litellm", model_id="openai/m", num_retries=-1)


async def test_api_key_env_must_be_set(litellm, monkeypatch):
    monkeypatch.delenv("LLMETER_TEST_MISSING_KEY", raising=False)
    with pytest.raises(ConfigError) as info:
        await LiteLLMEndpoint("openai/m", api_key_env="LLMETER_TEST_MISSING_KEY").open()
    assert info.value.field == "endpoint.api_key_env"


async def test_stream(litellm, emulator):
    emu = await emulator("openai", ttft_ms=50, itl_ms=10, output_tokens=5, cached_tokens=2)
    endpoint = LiteLLMEndpoint("openai/emulator-model", api_base=emu.url + "/v1", api_key=SECRET)
    async with endpoint:
        outs = [await endpoint.call(endpoint.create_payload(PROMPT, 20), timeout=10) for _ in range(2)]
    for out in outs:
        assert out.error is None, out.error
        assert out.response_text == full_text(5)
        assert (out.num_tokens_input, out.num_tokens_output, out.num_tokens_input_cached) == (4, 5, 2)
        assert emu.state.truth.get(out.id.removeprefix("chatcmpl-")) or emu.state.truth.get(out.id)
    # LiteLLM adds its own per-chunk overhead: generous bounds around 50 ms / 90 ms
    assert 0.050 <= outs[1].time_to_first_token < 0.050 + 0.060
    assert 0.090 <= outs[1].time_to_last_token < 0.090 + 0.080
    assert outs[0].time_to_first_token < 0.050 + 0.300  # the warm-up in open() took the ~0.7 s first-call cost
    assert SECRET not in outs[0].to_json().decode()


async def test_non_stream(litellm, emulator):
    emu = await emulator("openai", ttft_ms=20, itl_ms=5, output_tokens=4)
    async with LiteLLMEndpoint(
        "openai/emulator-model", stream=False, api_base=emu.url + "/v1", api_key=SECRET
    ) as endpoint:
        out = await endpoint.call(endpoint.create_payload(PROMPT, 3), timeout=10)
    assert out.error is None, out.error
    assert out.response_text == full_text(3)
    assert out.time_to_first_token is None and out.time_to_last_token >= 0.030
    assert (out.num_tokens_input, out.num_tokens_output) == (4, 3)
