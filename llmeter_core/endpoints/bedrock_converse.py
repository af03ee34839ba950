"""Amazon Bedrock Converse and ConverseStream: one message format for every Bedrock model.

Payloads are Converse requests without ``modelId`` (``messages``, optional ``system``,
``inferenceConfig``...); the endpoint adds its model. Token counts come from the response's
``usage`` (``num_tokens_input`` = inputTokens + cache reads + cache writes, the whole prompt
as OpenAI counts it; ``cacheReadInputTokens`` -> ``num_tokens_input_cached``, cache writes ->
``annotations["cache_write_input_tokens"]``), the service's own ``metrics.latencyMs`` goes to
``annotations["server_latency_ms"]`` (compare it with the client's time to see network and
SDK overhead), and the stop reason to ``annotations["stop_reason"]``.

Streaming: time to first token is the first ``contentBlockDelta`` carrying text (reasoning and
tool-use deltas are not text), time to last token the last one. Events this module does not
use are skipped. An ``exception`` message mid-stream (throttling, model stream error) raises
after the text and timings read so far are in the response.
"""

from __future__ import annotations

from typing import Any

from ..clock import now_ns
from ..response import InvocationResponse
from .aws import AwsEndpoint, raise_failed
from .stream_metrics import record_stream_times, record_stream_tokens
from .transport.eventstream import read_events

__all__ = ["BedrockConverse", "BedrockConverseStream", "converse_payload"]

_INFERENCE_KEYS = {
    "temperature": "temperature",
    "top_p": "topP",
    "topP": "topP",
    "stop_sequences": "stopSequences",
    "stopSequences": "stopSequences",
}


def converse_payload(
    prompt: str, max_tokens: int | None = None, system: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    """A Converse request body for one user prompt.

    ``temperature``/``top_p``/``stop_sequences`` go into ``inferenceConfig``; any other keyword
    (``additionalModelRequestFields``, ``performanceConfig``...) is copied to the top level.
    """
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": [{"text": prompt}]}]}
    if system:
        payload["system"] = [{"text": system}]
    inference: dict[str, Any] = {}
    if max_tokens is not None:
        inference["maxTokens"] = max_tokens
    for key, value in kwargs.items():
        if key in _INFERENCE_KEYS:
            inference[_INFERENCE_KEYS[key]] = value
        else:
            payload[key] = value
    if inference:
        payload["inferenceConfig"] = inference
    return payload


class BedrockConverse(AwsEndpoint):
    """Bedrock ``Converse`` (non-streaming): the time measured is to the complete answer."""

    endpoint_type = "bedrock-converse"
    service_name = "bedrock-runtime"
    operation = "converse"

    def __init__(self, model_id: str, *, provider: str = "bedrock", **aws_options: Any):
        """``aws_options``: the settings of ``AwsEndpoint`` (region, profile, endpoint_url...)."""
        super().__init__(model_id, provider=provider, **aws_options)

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        return converse_payload(prompt, max_tokens, **kwargs)

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "modelId": self.model_id}

    async def invoke(self, payload: dict[str, Any]) -> Any:
        return await self.call_api(self.operation, **payload)

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        elapsed = (now_ns() - start_ns) / 1e9
        response = raise_failed(raw, out)
        out.time_to_last_token = elapsed
        content = ((response.get("output") or {}).get("message") or {}).get("content") or []
        texts = [block["text"] for block in content if isinstance(block, dict) and isinstance(block.get("text"), str)]
        out.response_text = "".join(texts)
        _record_usage(response, out)
        if response.get("stopReason"):
            out.annotations["stop_reason"] = response["stopReason"]


class BedrockConverseStream(BedrockConverse):
    """Bedrock ``ConverseStream``: time to first and last token delta (``reasoningContent``
    deltas are generated tokens too, see ``stream_metrics``), usage from ``metadata``."""

    endpoint_type = "bedrock-converse-stream"
    operation = "converse_stream"

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        response = raise_failed(raw, out)
        stream = response["stream"]
        texts: list[str] = []
        first_ns = first_content_ns = last_ns = max_gap = end_ns = 0
        reasoning = 0
        try:
            async for arrival_ns, event_type, body in read_events(stream, "ConverseStream"):
                if event_type == "contentBlockDelta":
                    delta = body.get("delta") or {}
                    text = delta.get("text")
                    if text:
                        if not first_content_ns:
                            first_content_ns = arrival_ns
                        texts.append(text)
                    elif (delta.get("reasoningContent") or {}).get("text"):
                        reasoning += 1
                    else:
                        continue  # a signature, redacted reasoning, tool-use input: no token
                    if last_ns:
                        if arrival_ns - last_ns > max_gap:
                            max_gap = arrival_ns - last_ns
                    else:
                        first_ns = arrival_ns
                    last_ns = arrival_ns
                elif event_type == "metadata":
                    _record_usage(body, out)
                elif event_type == "messageStop":
                    reason = body.get("stopReason")
                    if reason:
                        out.annotations["stop_reason"] = reason
            end_ns = now_ns()  # the stream's end was read
        finally:
            if texts:
                out.response_text = "".join(texts)
            tokens = len(texts) + reasoning
            record_stream_times(out, start_ns, first_ns, first_content_ns, last_ns, max_gap, tokens, end_ns)
            stream.close()  # no-op once read to the end; drops the connection if cut short
        record_stream_tokens(out, len(texts), reasoning)


def _record_usage(body: dict[str, Any], out: InvocationResponse) -> None:
    """Token counts and server latency from a Converse response or ``metadata`` event."""
    usage = body.get("usage") or {}
    if usage.get("inputTokens") is not None:
        # Bedrock's inputTokens leaves out tokens read from or written to the prompt cache;
        # num_tokens_input is the whole prompt on every provider (OpenAI's prompt_tokens
        # includes cached tokens), so add them back.
        out.num_tokens_input = (
            usage["inputTokens"] + (usage.get("cacheReadInputTokens") or 0) + (usage.get("cacheWriteInputTokens") or 0)
        )
    if usage.get("outputTokens") is not None:
        out.num_tokens_output = usage["outputTokens"]
    if usage.get("cacheReadInputTokens") is not None:
        out.num_tokens_input_cached = usage["cacheReadInputTokens"]
    if usage.get("cacheWriteInputTokens"):
        out.annotations["cache_write_input_tokens"] = usage["cacheWriteInputTokens"]
    latency = (body.get("metrics") or {}).get("latencyMs")
    if latency is not None:
        out.annotations["server_latency_ms"] = latency
