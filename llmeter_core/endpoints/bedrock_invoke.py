"""Amazon Bedrock InvokeModel and InvokeModelWithResponseStream: the model's own JSON body.

Payloads are the model family's native request body (``anthropic_version`` + ``messages``,
Llama ``prompt``, Nova ``schemaVersion``...). Where the answer keeps its text and token
counts is set by ``output_format`` (a preset of ``response_formats``, by default chosen from
the model id: ``anthropic.*``, ``meta.*``, ``amazon.nova*``, ``amazon.titan-text*``,
``openai.*``, also inside ARNs and ``us.``/``eu.``... inference profiles) and can be overridden
path by path with JMESPath.

The service's own counts win over the body's: the ``X-Amzn-Bedrock-*-Token-Count`` headers
(non-streaming) and ``amazon-bedrock-invocationMetrics`` on the last chunk (streaming), whose
``invocationLatency``/``firstByteLatency`` go to ``annotations["server_latency_ms"]`` and
``annotations["server_first_byte_latency_ms"]``. Bedrock's input count leaves out the tokens
read from and written to the prompt cache (its cache-read and cache-write counts): as with
Converse, ``num_tokens_input`` adds them back (the whole prompt), cache reads go to
``num_tokens_input_cached`` and cache writes to ``annotations["cache_write_input_tokens"]``.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from ..clock import now_ns
from ..errors import ConfigError
from ..response import InvocationResponse
from .aws import raise_failed
from .model_body import ModelBodyEndpoint
from .response_formats import (
    INVOCATION_METRICS_KEY,
    PRESETS,
    ChunkTally,
    default_format_name,
    request_body,
)
from .transport.eventstream import read_events

__all__ = ["BedrockInvokeModel", "BedrockInvokeModelStream", "invoke_payload"]

#: Format used to build payloads when neither a format nor a known model id is given.
DEFAULT_PAYLOAD_FORMAT = "anthropic"


def invoke_payload(
    prompt: str,
    max_tokens: int | None = None,
    output_format: str | None = None,
    model_id: str | None = None,
    stream: bool = False,
    **kwargs: Any,
) -> dict[str, Any]:
    """A native request body for ``prompt``: the family from ``output_format``, else from
    ``model_id``, else Anthropic Messages. Other keywords are copied into the body."""
    name = output_format or (default_format_name(model_id) if model_id else None) or DEFAULT_PAYLOAD_FORMAT
    return request_body(name, prompt, max_tokens, stream, **kwargs)


class BedrockInvokeModel(ModelBodyEndpoint):
    """Bedrock ``InvokeModel`` (non-streaming): the time measured is to the complete body."""

    endpoint_type = "bedrock-invoke"
    service_name = "bedrock-runtime"
    stream = False

    def __init__(
        self,
        model_id: str,
        *,
        output_format: str | None = None,
        text_path: str | None = None,
        input_tokens_path: str | None = None,
        output_tokens_path: str | None = None,
        cached_input_tokens_path: str | None = None,
        provider: str = "bedrock",
        **aws_options: Any,
    ):
        """``aws_options``: the settings of ``AwsEndpoint`` (region, profile, endpoint_url...)."""
        super().__init__(model_id, provider=provider, **aws_options)
        name = output_format or default_format_name(model_id)
        if name is None:
            raise ConfigError(
                "endpoint.output_format",
                f"cannot tell the body format of model {model_id!r}; set one of {sorted(PRESETS)}",
            )
        self.use_format(
            name,
            text_path=text_path,
            input_tokens_path=input_tokens_path,
            output_tokens_path=output_tokens_path,
            cached_input_tokens_path=cached_input_tokens_path,
        )

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """See ``invoke_payload``; pass ``output_format=`` or ``model_id=`` to pick the family."""
        return invoke_payload(prompt, max_tokens, **kwargs)

    def _params(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {
            "modelId": self.model_id,
            "body": orjson.dumps(payload),
            "contentType": "application/json",
            "accept": "application/json",
        }

    async def invoke(self, payload: dict[str, Any]) -> Any:
        return await self.call_api("invoke_model", **self._params(payload))

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        response = raise_failed(raw, out)
        await self.read_body(response["body"], start_ns, out)
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        _service_counts(
            out,
            headers.get("x-amzn-bedrock-input-token-count"),
            headers.get("x-amzn-bedrock-output-token-count"),
            headers.get("x-amzn-bedrock-cache-read-input-token-count"),
            headers.get("x-amzn-bedrock-cache-write-input-token-count"),
        )
        latency = _int(headers.get("x-amzn-bedrock-invocation-latency"))
        if latency is not None:
            out.annotations["server_latency_ms"] = latency


class BedrockInvokeModelStream(BedrockInvokeModel):
    """Bedrock ``InvokeModelWithResponseStream``: each ``chunk`` event is one JSON body chunk."""

    endpoint_type = "bedrock-invoke-stream"
    stream = True

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        return invoke_payload(prompt, max_tokens, stream=True, **kwargs)

    async def invoke(self, payload: dict[str, Any]) -> Any:
        return await self.call_api("invoke_model_with_response_stream", **self._params(payload))

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        response = raise_failed(raw, out)
        stream = response["body"]
        tally = ChunkTally(self.paths, start_ns, out)
        end_ns = 0
        metrics: dict[str, Any] | None = None
        try:
            async for arrival_ns, event_type, body in read_events(stream, "InvokeModelWithResponseStream"):
                if event_type != "chunk":
                    continue
                encoded = body.get("bytes") or b""
                data = orjson.loads(base64.b64decode(encoded) if isinstance(encoded, str) else encoded)
                tally.add(data, arrival_ns)
                if isinstance(data, dict) and isinstance(data.get(INVOCATION_METRICS_KEY), dict):
                    metrics = data[INVOCATION_METRICS_KEY]
            end_ns = now_ns()  # the stream's end was read
        finally:
            tally.finish(end_ns, count=False)  # the invocation metrics, read below, win
            stream.close()
            if metrics is not None:
                _service_counts(
                    out,
                    metrics.get("inputTokenCount"),
                    metrics.get("outputTokenCount"),
                    metrics.get("cacheReadInputTokenCount"),
                    metrics.get("cacheWriteInputTokenCount"),
                )
                for key, name in (
                    ("invocationLatency", "server_latency_ms"),
                    ("firstByteLatency", "server_first_byte_latency_ms"),
                ):
                    if metrics.get(key) is not None:
                        out.annotations[name] = metrics[key]
        tally.count_stream()


def _service_counts(out: InvocationResponse, n_in: Any, n_out: Any, n_cache_read: Any, n_cache_write: Any) -> None:
    """Bedrock's own token counts (headers or invocation metrics) override the body's.

    Its input count excludes cache reads and writes, so the whole prompt is their sum. When
    the service gives no cache-read count, the body's (already in ``out``) is used.
    """
    cache_read, cache_write = _int(n_cache_read), _int(n_cache_write)
    if cache_read is not None:
        out.num_tokens_input_cached = cache_read
    if cache_write:
        out.annotations["cache_write_input_tokens"] = cache_write
    uncached = _int(n_in)
    if uncached is not None:
        out.num_tokens_input = uncached + (out.num_tokens_input_cached or 0) + (cache_write or 0)
    output = _int(n_out)
    if output is not None:
        out.num_tokens_output = output


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
