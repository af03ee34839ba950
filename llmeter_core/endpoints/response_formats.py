"""Model-family body formats for InvokeModel and SageMaker: request builders and JMESPath presets.

InvokeModel and SageMaker pass the model's own JSON through, so where the text and token
counts sit depends on the model family. A ``ResponseFormat`` says it with JMESPath
expressions, one set for a whole response body and one applied to each streamed chunk, and
knows how to build a request body for a plain prompt. Presets:

===========  ==========================================================================
name         bodies
===========  ==========================================================================
anthropic    Anthropic Messages on Bedrock (``content[].text``; stream: ``delta.text``)
llama        Meta Llama on Bedrock (``generation``, ``*_token_count``)
nova         Amazon Nova (Converse-shaped ``output.message``; stream: ``contentBlockDelta``)
titan        Amazon Titan Text (``results[].outputText``; stream: ``outputText``)
tgi          Hugging Face TGI (``[0].generated_text``; stream: ``token.text``, SSE)
openai       OpenAI-style chat completions (vLLM, LMI, TGI Messages API, gpt-oss on Bedrock)
===========  ==========================================================================

Any path can be overridden (``resolve_format(name, text_path=...)``); on a streaming
endpoint the overrides apply to each chunk. The input tokens path gives the *whole* prompt,
cached tokens included (``num_tokens_input`` means that on every endpoint): where a family
counts tokens read from or written to the prompt cache apart from its input count (Anthropic,
Nova), its preset adds them up with JMESPath's ``sum`` (see ``whole_prompt``). A path that
finds nothing (``null``) is simply not used: the runner falls back to its tokenizer for
missing token counts. For streams, the
last non-null token count seen wins, and Bedrock's ``amazon-bedrock-invocationMetrics``
(the service's own counts, on the last chunk) win over everything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable

import jmespath
from jmespath.exceptions import JMESPathError

from ..clock import now_ns
from ..errors import ConfigError
from ..response import InvocationResponse
from .stream_metrics import record_stream_times, record_stream_tokens

__all__ = [
    "ResponseFormat",
    "BodyPaths",
    "PRESETS",
    "preset",
    "request_body",
    "resolve_format",
    "default_format_name",
    "base_model_id",
    "INVOCATION_METRICS_KEY",
    "fill_from_body",
    "ChunkTally",
    "whole_prompt",
]

#: Key Bedrock adds to the last chunk of an InvokeModelWithResponseStream body.
INVOCATION_METRICS_KEY = "amazon-bedrock-invocationMetrics"

_PATH_FIELDS = ("text", "input_tokens", "output_tokens", "cached_input_tokens")


@dataclass(frozen=True)
class BodyPaths:
    """JMESPath expressions (source text) locating the text and token counts in one JSON body."""

    text: str | None = None
    input_tokens: str | None = None
    output_tokens: str | None = None
    cached_input_tokens: str | None = None

    def compile(self, where: str) -> "CompiledPaths":
        compiled: dict[str, Any] = {}
        for name in _PATH_FIELDS:
            source = getattr(self, name)
            if source is None:
                compiled[name] = None
                continue
            try:
                compiled[name] = jmespath.compile(source)
            except JMESPathError as exc:
                raise ConfigError(f"endpoint.{name}_path", f"bad JMESPath {source!r} ({where}): {exc}") from None
        return CompiledPaths(**compiled)


@dataclass(frozen=True)
class CompiledPaths:
    """``BodyPaths`` compiled once, applied per body; results are type-checked."""

    text: Any = None
    input_tokens: Any = None
    output_tokens: Any = None
    cached_input_tokens: Any = None

    def text_of(self, body: Any) -> str | None:
        value = _search(self.text, body)
        if isinstance(value, list):  # e.g. content[].text without join()
            texts = [v for v in value if isinstance(v, str)]
            value = "".join(texts) if texts else None
        return value if isinstance(value, str) else None

    def counts_of(self, body: Any) -> tuple[int | None, int | None, int | None]:
        """(input, output, cached input) token counts, None where not found."""
        return (
            _as_int(_search(self.input_tokens, body)),
            _as_int(_search(self.output_tokens, body)),
            _as_int(_search(self.cached_input_tokens, body)),
        )


@dataclass(frozen=True)
class ResponseFormat:
    """A model family's request builder and where its responses keep text and token counts."""

    name: str
    body: BodyPaths
    chunk: BodyPaths
    build: Callable[[str, int | None, bool], dict[str, Any]] = field(repr=False)

    def request(self, prompt: str, max_tokens: int | None = None, stream: bool = False) -> dict[str, Any]:
        """A request body for ``prompt`` (``stream`` adds the body flag servers like TGI need)."""
        return self.build(prompt, max_tokens, stream)

    def paths(self, stream: bool) -> BodyPaths:
        return self.chunk if stream else self.body


def _anthropic(prompt: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    return {
        "anthropic_version": "bedrock-2023-05-31",
        "max_tokens": max_tokens if max_tokens is not None else 1024,  # required by the API
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    }


def _llama(prompt: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt}
    if max_tokens is not None:
        body["max_gen_len"] = max_tokens
    return body


def _nova(prompt: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "schemaVersion": "messages-v1",
        "messages": [{"role": "user", "content": [{"text": prompt}]}],
    }
    if max_tokens is not None:
        body["inferenceConfig"] = {"maxTokens": max_tokens}
    return body


def _titan(prompt: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"inputText": prompt}
    if max_tokens is not None:
        body["textGenerationConfig"] = {"maxTokenCount": max_tokens}
    return body


def _tgi(prompt: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    parameters: dict[str, Any] = {"details": True}
    if max_tokens is not None:
        parameters["max_new_tokens"] = max_tokens
    body: dict[str, Any] = {"inputs": prompt, "parameters": parameters}
    if stream:
        body["stream"] = True
    return body


def _openai(prompt: str, max_tokens: int | None, stream: bool) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
    if max_tokens is not None:
        body["max_tokens"] = max_tokens
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def whole_prompt(input_tokens: str, *cache_counts: str) -> str:
    """JMESPath of the whole prompt when an API counts cached tokens apart from ``input_tokens``.

    ``input_tokens && sum([input_tokens, cache_counts || `0`...])``: null when the input count
    is absent (a stream chunk that carries no usage; the guard also keeps ``sum`` from
    raising on it, which would cost an exception per chunk), a missing cache count adds 0.
    """
    parts = ", ".join([input_tokens, *(f"{count} || `0`" for count in cache_counts)])
    return f"{input_tokens} && sum([{parts}])"


PRESETS: dict[str, ResponseFormat] = {
    "anthropic": ResponseFormat(
        "anthropic",
        BodyPaths(
            text="content[?type=='text'].text",
            input_tokens=whole_prompt(
                "usage.input_tokens", "usage.cache_read_input_tokens", "usage.cache_creation_input_tokens"
            ),
            output_tokens="usage.output_tokens",
            cached_input_tokens="usage.cache_read_input_tokens",
        ),
        BodyPaths(  # message_start carries input usage, content_block_delta text, message_delta output
            text="delta.text",
            input_tokens=whole_prompt(
                "message.usage.input_tokens",
                "message.usage.cache_read_input_tokens",
                "message.usage.cache_creation_input_tokens",
            ),
            output_tokens="usage.output_tokens",
            cached_input_tokens="message.usage.cache_read_input_tokens",
        ),
        _anthropic,
    ),
    "llama": ResponseFormat(
        "llama",
        BodyPaths(text="generation", input_tokens="prompt_token_count", output_tokens="generation_token_count"),
        BodyPaths(text="generation", input_tokens="prompt_token_count", output_tokens="generation_token_count"),
        _llama,
    ),
    "nova": ResponseFormat(
        "nova",
        BodyPaths(
            text="output.message.content[].text",
            input_tokens=whole_prompt(
                "usage.inputTokens", "usage.cacheReadInputTokenCount", "usage.cacheWriteInputTokenCount"
            ),
            output_tokens="usage.outputTokens",
            cached_input_tokens="usage.cacheReadInputTokenCount",
        ),
        BodyPaths(
            text="contentBlockDelta.delta.text",
            input_tokens=whole_prompt(
                "metadata.usage.inputTokens",
                "metadata.usage.cacheReadInputTokenCount",
                "metadata.usage.cacheWriteInputTokenCount",
            ),
            output_tokens="metadata.usage.outputTokens",
            cached_input_tokens="metadata.usage.cacheReadInputTokenCount",
        ),
        _nova,
    ),
    "titan": ResponseFormat(
        "titan",
        BodyPaths(
            text="results[].outputText", input_tokens="inputTextTokenCount", output_tokens="sum(results[].tokenCount)"
        ),
        BodyPaths(text="outputText", input_tokens="inputTextTokenCount", output_tokens="totalOutputTextTokenCount"),
        _titan,
    ),
    "tgi": ResponseFormat(
        "tgi",
        BodyPaths(  # TGI answers a list of one; some containers unwrap it
            text="[0].generated_text || generated_text",
            input_tokens="[0].details.input_length || details.input_length",
            output_tokens="[0].details.generated_tokens || details.generated_tokens",
        ),
        BodyPaths(
            text="[token][?!special].text | [0]",
            input_tokens="details.input_length",
            output_tokens="details.generated_tokens",
        ),
        _tgi,
    ),
    "openai": ResponseFormat(
        "openai",
        BodyPaths(
            text="choices[0].message.content",
            input_tokens="usage.prompt_tokens",
            output_tokens="usage.completion_tokens",
            cached_input_tokens="usage.prompt_tokens_details.cached_tokens",
        ),
        BodyPaths(
            text="choices[0].delta.content",
            input_tokens="usage.prompt_tokens",
            output_tokens="usage.completion_tokens",
            cached_input_tokens="usage.prompt_tokens_details.cached_tokens",
        ),
        _openai,
    ),
}

# Bedrock model id prefix (after any cross-region profile prefix) -> preset.
_MODEL_PREFIXES = (
    ("anthropic.", "anthropic"),
    ("meta.", "llama"),
    ("amazon.nova", "nova"),
    ("amazon.titan-text", "titan"),
    ("amazon.titan-tg1", "titan"),
    ("openai.", "openai"),
)
_PROFILE_PREFIXES = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")


def base_model_id(model_id: str) -> str:
    """The foundation model id inside an ARN or a cross-region inference profile id.

    ``arn:aws:bedrock:us-east-1::foundation-model/meta.llama3-8b-instruct-v1:0`` and
    ``us.anthropic.claude-3-5-haiku-20241022-v1:0`` give ``meta.llama3...`` and
    ``anthropic.claude...``.
    """
    model = model_id
    if model.startswith("arn:"):
        model = model.rsplit("/", 1)[-1]
    for prefix in _PROFILE_PREFIXES:
        if model.startswith(prefix):
            return model[len(prefix) :]
    return model


def default_format_name(model_id: str) -> str | None:
    """The preset for a Bedrock model id, or None when the family is not recognised."""
    model = base_model_id(model_id)
    for prefix, name in _MODEL_PREFIXES:
        if model.startswith(prefix):
            return name
    return None


def preset(name: str, field: str = "endpoint.output_format") -> ResponseFormat:
    """The preset ``name``; anything else is a ConfigError on ``field`` naming the presets."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(field, f"unknown format {name!r}; presets: {sorted(PRESETS)}") from None


def request_body(name: str, prompt: str, max_tokens: int | None, stream: bool, **extra: Any) -> dict[str, Any]:
    """A request body for ``prompt`` in the family of preset ``name`` (``output_format`` of a
    payload built from a prompt), with the ``extra`` keys copied in."""
    body = preset(name, "output_format").request(prompt, max_tokens, stream)
    body.update(extra)
    return body


def resolve_format(
    name: str,
    stream: bool,
    text_path: str | None = None,
    input_tokens_path: str | None = None,
    output_tokens_path: str | None = None,
    cached_input_tokens_path: str | None = None,
) -> tuple[ResponseFormat, CompiledPaths]:
    """The preset ``name`` and its compiled paths for ``stream``, with overrides applied."""
    found = preset(name)
    overrides = {
        key: value
        for key, value in (
            ("text", text_path),
            ("input_tokens", input_tokens_path),
            ("output_tokens", output_tokens_path),
            ("cached_input_tokens", cached_input_tokens_path),
        )
        if value is not None
    }
    paths = replace(found.paths(stream), **overrides)
    return found, paths.compile(f"{name}, {'stream chunk' if stream else 'response body'}")


def fill_from_body(paths: CompiledPaths, body: Any, out: InvocationResponse) -> None:
    """Text and token counts of one complete response body into ``out``."""
    out.response_text = paths.text_of(body)
    n_in, n_out, n_cached = paths.counts_of(body)
    if n_in is not None:
        out.num_tokens_input = n_in
    if n_out is not None:
        out.num_tokens_output = n_out
    if n_cached is not None:
        out.num_tokens_input_cached = n_cached


class ChunkTally:
    """Reads streamed JSON chunks into a response: times text, keeps the last counts seen.

    ``add`` stamps time to first/last token (and the longest gap) on chunks whose text is
    non-empty; ``finish`` (call it in a ``finally``) writes the text, times and counts
    gathered so far, so a stream cut midway still leaves its partial text in the response.
    Without a count in the chunks, the output count is the text chunks (``stream_metrics``).
    """

    __slots__ = (
        "paths",
        "start_ns",
        "out",
        "texts",
        "input_tokens",
        "output_tokens",
        "cached_tokens",
        "first_ns",
        "last_ns",
        "max_gap",
    )

    def __init__(self, paths: CompiledPaths, start_ns: int, out: InvocationResponse):
        self.paths = paths
        self.start_ns = start_ns
        self.out = out
        self.texts: list[str] = []
        self.input_tokens: int | None = None
        self.output_tokens: int | None = None
        self.cached_tokens: int | None = None
        self.first_ns = self.last_ns = self.max_gap = 0

    def add(self, chunk: Any, arrival_ns: int | None = None) -> None:
        """Account one chunk; ``arrival_ns`` is when its bytes arrived (default: now)."""
        paths = self.paths
        text = paths.text_of(chunk)
        if text:
            arrived = now_ns() if arrival_ns is None else arrival_ns
            last = self.last_ns
            if last:
                if arrived - last > self.max_gap:
                    self.max_gap = arrived - last
            else:
                self.first_ns = arrived
            self.last_ns = arrived
            self.texts.append(text)
        n_in, n_out, n_cached = paths.counts_of(chunk)
        if n_in is not None:
            self.input_tokens = n_in
        if n_out is not None:
            self.output_tokens = n_out
        if n_cached is not None:
            self.cached_tokens = n_cached

    def finish(self, end_ns: int = 0, count: bool = True) -> None:
        """Write what was gathered into the response; ``end_ns``: when the stream's end was
        read (0: it did not end). ``count=False`` leaves the stream count and time per token
        to a later ``count_stream`` (when counts read after this one still win)."""
        out = self.out
        if self.texts:
            out.response_text = "".join(self.texts)
        first = self.first_ns
        record_stream_times(out, self.start_ns, first, first, self.last_ns, self.max_gap, len(self.texts), end_ns)
        if self.input_tokens is not None:
            out.num_tokens_input = self.input_tokens
        if self.output_tokens is not None:
            out.num_tokens_output = self.output_tokens
        if self.cached_tokens is not None:
            out.num_tokens_input_cached = self.cached_tokens
        if end_ns and count:
            self.count_stream()

    def count_stream(self) -> None:
        """A whole stream that reported no output count is counted from its text chunks."""
        record_stream_tokens(self.out, len(self.texts), 0)


def _search(expression: Any, body: Any) -> Any:
    if expression is None:
        return None
    try:
        return expression.search(body)
    except JMESPathError:  # e.g. a function given the wrong type by an odd body
        return None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None
