"""The token-count contract of every endpoint type that has an emulator: ``num_tokens_input`` is
the whole prompt, the tokens read from and written to the prompt cache included, whatever the
API calls its counts (OpenAI's ``prompt_tokens`` includes cached tokens; Bedrock's
``inputTokens``, Anthropic's ``input_tokens`` and Nova's ``inputTokens`` leave them out and
report them beside). Checked against the emulator's ground truth of the same request, with
cache reads and cache writes configured, by calling the endpoint directly: through a Runner
the tokenizer fallback would hide a missing count.
"""

from __future__ import annotations

import pytest

from llmeter_core.endpoints import create_endpoint

from .aws_support import aws_env, emulator  # noqa: F401

PROMPT = "one two three four five six seven eight"  # 8 words: the emulator's whole prompt
CACHE_READ, CACHE_WRITE = 3, 2

# (endpoint type, endpoint options but the URL, what the API reports apart from its input count)
CASES = [
    ("openai-chat", {"model_id": "m", "stream": True}, "cache reads in prompt_tokens"),
    ("openai-chat", {"model_id": "m", "stream": False}, "cache reads in prompt_tokens"),
    ("openai-responses", {"model_id": "m", "stream": True}, "cache reads in input_tokens"),
    ("openai-responses", {"model_id": "m", "stream": False}, "cache reads in input_tokens"),
    ("bedrock-converse", {"model_id": "anthropic.claude-3-5-haiku-20241022-v1:0"}, "reads and writes apart"),
    ("bedrock-converse-stream", {"model_id": "amazon.nova-lite-v1:0"}, "reads and writes apart"),
    *[
        (kind, {"model_id": model_id}, apart)
        for kind in ("bedrock-invoke", "bedrock-invoke-stream")
        for model_id, apart in (
            ("anthropic.claude-3-5-haiku-20241022-v1:0", "reads and writes apart"),
            ("us.anthropic.claude-3-5-haiku-20241022-v1:0", "reads and writes apart"),
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
    return {"base_url": url + "/v1", "api_key": "sk-fake-contract-test"} if kind.startswith("openai") else {
        "endpoint_url": url}


@pytest.mark.parametrize("kind, options, apart", CASES,
                         ids=[f"{k}-{o.get('model_id') or o['output_format']}-{o.get('stream', '')}"
                              for k, o, _ in CASES])
async def test_num_tokens_input_is_the_whole_prompt(emulator, kind, options, apart):
    emu = await emulator("all", ttft_ms=0, itl_ms=0, output_tokens=3, cached_tokens=CACHE_READ,
                         cache_write_tokens=CACHE_WRITE)
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
