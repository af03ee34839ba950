"""InvokeModel body formats by model family, chosen from the Bedrock model id.

Each family reads its request (prompt words, token cap), writes its non-streamed reply and
the provider JSON chunks of its stream (the handler wraps them as ``chunk`` events and adds
``amazon-bedrock-invocationMetrics`` to the last). Families, by id prefix after any ARN or
cross-region profile prefix (``us.``, ``eu.`` ...):

- ``anthropic.*``: Messages API (``message_start`` ... ``message_stop``).
- ``meta.*``: Llama ``generation`` / ``prompt_token_count`` / ``generation_token_count``.
- ``amazon.nova*``: Nova messages-v1 (``output.message``; stream ``contentBlockDelta`` ...).
- ``amazon.titan*``: Titan text (``results[].outputText``; stream ``outputText`` chunks).
- anything else: OpenAI chat completions.

As on Bedrock, the Anthropic and Nova input counts exclude the tokens read from and written
to the prompt cache, which are reported beside them (``cache_read_input_tokens`` and
``cache_creation_input_tokens``; ``cacheReadInputTokenCount`` and
``cacheWriteInputTokenCount``); the OpenAI format's ``prompt_tokens`` is the whole prompt.
"""

from __future__ import annotations

from typing import Any

from llmeter_core.emulator.state import Served, count_words
from llmeter_core.emulator.wire import content_words, int_or_none, messages_words

__all__ = ["family_for", "FAMILIES", "InvokeFamily"]

_PROFILE_PREFIXES = ("us-gov.", "us.", "eu.", "apac.", "jp.", "au.", "ca.", "global.")


def _base_model_id(model_id: str) -> str:
    model_id = model_id.rsplit("/", 1)[-1]
    for prefix in _PROFILE_PREFIXES:
        if model_id.startswith(prefix):
            return model_id[len(prefix) :]
    return model_id


def _system_words(system: Any) -> int:
    return count_words(system) if isinstance(system, str) else content_words(system)


class InvokeFamily:
    """OpenAI chat completions, the default; other families override the methods."""

    name = "openai"
    #: Whether the family reports cached prompt tokens (Llama and Titan on Bedrock do not).
    caches = True

    def read(self, body: dict) -> tuple[int, int | None]:
        """(prompt words, token cap) of a request body."""
        words = messages_words(body.get("messages")) + count_words(body.get("prompt"))
        cap = int_or_none(body.get("max_completion_tokens"))
        return words, cap if cap is not None else int_or_none(body.get("max_tokens"))

    def reply(self, served: Served, model_id: str, text: str) -> dict:
        truth = served.truth
        return {
            "id": "chatcmpl-" + served.request_id,
            "object": "chat.completion",
            "created": 0,
            "model": model_id,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length" if served.schedule.truncated else "stop",
                }
            ],
            "usage": self._usage(truth),
        }

    @staticmethod
    def _usage(truth: Any) -> dict:
        return {
            "prompt_tokens": truth.input_tokens,
            "completion_tokens": truth.output_tokens,
            "total_tokens": truth.input_tokens + truth.output_tokens,
            "prompt_tokens_details": {"cached_tokens": truth.cached_tokens},
        }

    def stream_start(self, served: Served, model_id: str) -> list[dict]:
        return [
            {
                "id": "chatcmpl-" + served.request_id,
                "object": "chat.completion.chunk",
                "model": model_id,
                "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}],
            }
        ]

    def token_template(self, served: Served, model_id: str) -> bytes:
        """Provider JSON of a token chunk with ``%s`` where the token's text goes."""
        return (
            b'{"id":"chatcmpl-' + served.request_id.encode() + b'","object":"chat.completion.chunk",'
            b'"choices":[{"index":0,"delta":{"content":"%s"},"finish_reason":null}]}'
        )

    def stream_end(self, served: Served, model_id: str) -> list[dict]:
        finish = "length" if served.schedule.truncated else "stop"
        return [
            {
                "id": "chatcmpl-" + served.request_id,
                "object": "chat.completion.chunk",
                "model": model_id,
                "choices": [{"index": 0, "delta": {}, "finish_reason": finish}],
            },
            {
                "id": "chatcmpl-" + served.request_id,
                "object": "chat.completion.chunk",
                "model": model_id,
                "choices": [],
                "usage": self._usage(served.truth),
            },
        ]


class AnthropicFamily(InvokeFamily):
    name = "anthropic"

    def read(self, body: dict) -> tuple[int, int | None]:
        return messages_words(body.get("messages")) + _system_words(body.get("system")), int_or_none(
            body.get("max_tokens")
        )

    @staticmethod
    def _stop(served: Served) -> str:
        return "max_tokens" if served.schedule.truncated else "end_turn"

    @staticmethod
    def _input_usage(truth: Any) -> dict:
        return {
            "input_tokens": truth.uncached_input_tokens,
            "cache_creation_input_tokens": truth.cache_write_tokens,
            "cache_read_input_tokens": truth.cached_tokens,
        }

    def reply(self, served: Served, model_id: str, text: str) -> dict:
        truth = served.truth
        return {
            "id": "msg_bdrk_" + served.request_id,
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [{"type": "text", "text": text}],
            "stop_reason": self._stop(served),
            "stop_sequence": None,
            "usage": {**self._input_usage(truth), "output_tokens": truth.output_tokens},
        }

    def stream_start(self, served: Served, model_id: str) -> list[dict]:
        message: dict[str, Any] = {
            "id": "msg_bdrk_" + served.request_id,
            "type": "message",
            "role": "assistant",
            "model": model_id,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**self._input_usage(served.truth), "output_tokens": 1},
        }
        return [
            {"type": "message_start", "message": message},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        ]

    def token_template(self, served: Served, model_id: str) -> bytes:
        return b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"%s"}}'

    def stream_end(self, served: Served, model_id: str) -> list[dict]:
        return [
            {"type": "content_block_stop", "index": 0},
            {
                "type": "message_delta",
                "delta": {"stop_reason": self._stop(served), "stop_sequence": None},
                "usage": {"output_tokens": served.truth.output_tokens},
            },
            {"type": "message_stop"},
        ]


class LlamaFamily(InvokeFamily):
    name = "llama"
    caches = False

    def read(self, body: dict) -> tuple[int, int | None]:
        return count_words(body.get("prompt")), int_or_none(body.get("max_gen_len"))

    def reply(self, served: Served, model_id: str, text: str) -> dict:
        truth = served.truth
        return {
            "generation": text,
            "prompt_token_count": truth.input_tokens,
            "generation_token_count": truth.output_tokens,
            "stop_reason": "length" if served.schedule.truncated else "stop",
        }

    def stream_start(self, served: Served, model_id: str) -> list[dict]:
        return []

    def token_template(self, served: Served, model_id: str) -> bytes:
        return b'{"generation":"%s","prompt_token_count":null,"generation_token_count":null,"stop_reason":null}'

    def stream_end(self, served: Served, model_id: str) -> list[dict]:
        return [self.reply(served, model_id, "")]


class NovaFamily(InvokeFamily):
    name = "nova"

    def read(self, body: dict) -> tuple[int, int | None]:
        config = body.get("inferenceConfig")
        cap = None
        if isinstance(config, dict):
            cap = int_or_none(config.get("max_new_tokens"))
            if cap is None:
                cap = int_or_none(config.get("maxTokens"))
        return messages_words(body.get("messages")) + _system_words(body.get("system")), cap

    @staticmethod
    def _stop(served: Served) -> str:
        return "max_tokens" if served.schedule.truncated else "end_turn"

    @staticmethod
    def _usage(truth: Any) -> dict:
        uncached = truth.uncached_input_tokens
        return {
            "inputTokens": uncached,
            "outputTokens": truth.output_tokens,
            "totalTokens": uncached + truth.output_tokens,
            "cacheReadInputTokenCount": truth.cached_tokens,
            "cacheWriteInputTokenCount": truth.cache_write_tokens,
        }

    def reply(self, served: Served, model_id: str, text: str) -> dict:
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": self._stop(served),
            "usage": self._usage(served.truth),
        }

    def stream_start(self, served: Served, model_id: str) -> list[dict]:
        return [{"messageStart": {"role": "assistant"}}]

    def token_template(self, served: Served, model_id: str) -> bytes:
        return b'{"contentBlockDelta":{"delta":{"text":"%s"},"contentBlockIndex":0}}'

    def stream_end(self, served: Served, model_id: str) -> list[dict]:
        return [
            {"contentBlockStop": {"contentBlockIndex": 0}},
            {"messageStop": {"stopReason": self._stop(served)}},
            {"metadata": {"usage": self._usage(served.truth), "metrics": {}, "trace": {}}},
        ]


class TitanFamily(InvokeFamily):
    name = "titan"
    caches = False

    def read(self, body: dict) -> tuple[int, int | None]:
        config = body.get("textGenerationConfig")
        cap = int_or_none(config.get("maxTokenCount")) if isinstance(config, dict) else None
        return count_words(body.get("inputText")), cap

    @staticmethod
    def _reason(served: Served) -> str:
        return "LENGTH" if served.schedule.truncated else "FINISH"

    def reply(self, served: Served, model_id: str, text: str) -> dict:
        truth = served.truth
        return {
            "inputTextTokenCount": truth.input_tokens,
            "results": [
                {"tokenCount": truth.output_tokens, "outputText": text, "completionReason": self._reason(served)}
            ],
        }

    def stream_start(self, served: Served, model_id: str) -> list[dict]:
        return []

    def token_template(self, served: Served, model_id: str) -> bytes:
        return (
            b'{"outputText":"%s","index":0,"totalOutputTextTokenCount":null,"completionReason":null,'
            b'"inputTextTokenCount":null}'
        )

    def stream_end(self, served: Served, model_id: str) -> list[dict]:
        truth = served.truth
        return [
            {
                "outputText": "",
                "index": 0,
                "totalOutputTextTokenCount": truth.output_tokens,
                "completionReason": self._reason(served),
                "inputTextTokenCount": truth.input_tokens,
            }
        ]


FAMILIES: dict[str, InvokeFamily] = {
    family.name: family for family in (InvokeFamily(), AnthropicFamily(), LlamaFamily(), NovaFamily(), TitanFamily())
}
_PREFIXES = (("anthropic.", "anthropic"), ("meta.", "llama"), ("amazon.nova", "nova"), ("amazon.titan", "titan"))


def family_for(model_id: str) -> InvokeFamily:
    """The body format of ``model_id`` (OpenAI chat when no prefix matches)."""
    base = _base_model_id(model_id)
    for prefix, name in _PREFIXES:
        if base.startswith(prefix):
            return FAMILIES[name]
    return FAMILIES["openai"]
