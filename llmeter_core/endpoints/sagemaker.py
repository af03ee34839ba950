"""Amazon SageMaker real-time endpoints: InvokeEndpoint and InvokeEndpointWithResponseStream.

The body is whatever the serving container speaks; ``output_format`` picks a preset of
``response_formats`` (default ``tgi``, the Hugging Face TGI/LLM container LLMeter targets;
``openai`` for vLLM/LMI/TGI Messages-API containers) and the JMESPath overrides adapt it to
anything else. ``inference_component`` and ``target_variant`` route to one model of a shared
endpoint.

Streaming: SageMaker forwards the container's byte stream in ``PayloadPart`` events cut
wherever the network cut it, so one part can hold half a line, half a JSON object or several
of them. ``PayloadReassembler`` buffers the bytes and yields complete JSON objects from
JSON-lines, SSE (``data:`` prefixes, ``[DONE]``) or concatenated-object streams; the time to
first token is stamped when the first complete object carrying text has been received.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from ..clock import now_ns
from ..errors import ConfigError
from ..response import InvocationResponse
from .aws import raise_failed
from .model_body import ModelBodyEndpoint
from .response_formats import ChunkTally, request_body
from .transport.eventstream import read_events

__all__ = ["SageMakerEndpoint", "SageMakerStreamEndpoint", "PayloadReassembler", "DEFAULT_SAGEMAKER_FORMAT"]

DEFAULT_SAGEMAKER_FORMAT = "tgi"

_SSE_FIELDS = (b"event:", b"id:", b"retry:")
_decoder = json.JSONDecoder()
_MAX_PENDING_CHARS = 4 * 1024 * 1024


class PayloadReassembler:
    """Complete JSON values out of arbitrarily split stream bytes.

    ``feed(part)`` returns the values completed by ``part``; ``flush()`` at the end of the
    stream returns what a final unterminated line held. Lines are split on ``\\n`` before
    decoding, so a multi-byte UTF-8 character cut between parts is never decoded half.
    Blank lines, SSE ``event:``/``id:``/``retry:`` fields and ``:`` comments, and
    ``[DONE]`` are skipped; so is any line that does not start a JSON object or array
    (counted in ``skipped``). A value spread over several lines (pretty-printed) or several
    values on one line (``{...}{...}``) are handled by a slower path; text that never
    completes a value is dropped (and counted) when a whole value arrives on one line.
    """

    __slots__ = ("_buffer", "_pending", "skipped")

    def __init__(self) -> None:
        self._buffer = b""
        self._pending = ""
        self.skipped = 0

    def feed(self, data: bytes) -> list[Any]:
        buffer = self._buffer + data if self._buffer else data
        values: list[Any] = []
        start = 0
        while (end := buffer.find(b"\n", start)) >= 0:
            self._line(buffer[start:end], values)
            start = end + 1
        self._buffer = buffer[start:]
        return values

    def flush(self) -> list[Any]:
        """Values left at the end of the stream; a cut-off JSON value raises ValueError."""
        values: list[Any] = []
        if self._buffer:
            line, self._buffer = self._buffer, b""
            self._line(line, values)
        if self._pending.strip():
            pending, self._pending = self._pending, ""
            raise ValueError(f"stream ended inside a JSON value: {pending[:80]!r}")
        return values

    def _line(self, line: bytes, values: list[Any]) -> None:
        line = line.strip()
        if not line:
            return
        if line.startswith(b"data:"):
            line = line[5:].lstrip()
        elif not self._pending and (line.startswith(_SSE_FIELDS) or line.startswith(b":")):
            return
        if line == b"[DONE]":
            return
        if line[:1] in (b"{", b"["):
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                pass
            else:  # a whole value on one line (the usual case)
                if self._pending:  # what was pending never completed: it was not JSON
                    self._pending = ""
                    self.skipped += 1
                values.append(value)
                return
        elif not self._pending:
            self.skipped += 1
            return
        self._pending += line.decode("utf-8", "replace") + "\n"
        if len(self._pending) > _MAX_PENDING_CHARS:
            self._pending = ""
            self.skipped += 1
            return
        self._decode_pending(values)

    def _decode_pending(self, values: list[Any]) -> None:
        text = self._pending
        index, size = 0, len(text)
        while index < size:
            while index < size and text[index].isspace():
                index += 1
            if index >= size:
                break
            try:
                value, index = _decoder.raw_decode(text, index)
            except json.JSONDecodeError:
                break  # incomplete: wait for more lines
            values.append(value)
        self._pending = text[index:] if index < size else ""


class SageMakerEndpoint(ModelBodyEndpoint):
    """SageMaker ``InvokeEndpoint`` (non-streaming): time to the complete body.

    ``endpoint_name`` is the SageMaker endpoint; a spec file's ``model`` is taken as the
    endpoint name when ``endpoint_name`` is not given (``model_id`` is what results record).
    """

    endpoint_type = "sagemaker"
    service_name = "sagemaker-runtime"
    stream = False

    def __init__(
        self,
        endpoint_name: str | None = None,
        *,
        model_id: str | None = None,
        output_format: str = DEFAULT_SAGEMAKER_FORMAT,
        text_path: str | None = None,
        input_tokens_path: str | None = None,
        output_tokens_path: str | None = None,
        cached_input_tokens_path: str | None = None,
        inference_component: str | None = None,
        target_variant: str | None = None,
        provider: str = "sagemaker",
        **aws_options: Any,
    ):
        """``aws_options``: the settings of ``AwsEndpoint`` (region, profile, endpoint_url...)."""
        name = endpoint_name or model_id
        if not name:
            raise ConfigError("endpoint.endpoint_name", "required: the SageMaker endpoint name (or model_id)")
        super().__init__(model_id or name, name, provider=provider, **aws_options)
        self.inference_component = inference_component
        self.target_variant = target_variant
        self.use_format(
            output_format,
            text_path=text_path,
            input_tokens_path=input_tokens_path,
            output_tokens_path=output_tokens_path,
            cached_input_tokens_path=cached_input_tokens_path,
        )

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """A body in ``output_format`` (default ``tgi``); other keywords are copied into it."""
        return _sagemaker_payload(prompt, max_tokens, False, **kwargs)

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config.update(inference_component=self.inference_component, target_variant=self.target_variant)
        return config

    def _params(self, payload: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {
            "EndpointName": self.endpoint_name,
            "Body": orjson.dumps(payload),
            "ContentType": "application/json",
            "Accept": "application/json",
        }
        if self.inference_component:
            params["InferenceComponentName"] = self.inference_component
        if self.target_variant:
            params["TargetVariant"] = self.target_variant
        return params

    async def invoke(self, payload: dict[str, Any]) -> Any:
        return await self.call_api("invoke_endpoint", **self._params(payload))

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        response = raise_failed(raw, out)
        await self.read_body(response["Body"], start_ns, out)


class SageMakerStreamEndpoint(SageMakerEndpoint):
    """SageMaker ``InvokeEndpointWithResponseStream``: ``PayloadPart`` bytes, reassembled."""

    endpoint_type = "sagemaker-stream"
    stream = True

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        return _sagemaker_payload(prompt, max_tokens, True, **kwargs)

    def _params(self, payload: dict[str, Any]) -> dict[str, Any]:
        params = super()._params(payload)
        params["Accept"] = "application/jsonlines"
        return params

    async def invoke(self, payload: dict[str, Any]) -> Any:
        return await self.call_api("invoke_endpoint_with_response_stream", **self._params(payload))

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        response = raise_failed(raw, out)
        stream = response["Body"]
        tally = ChunkTally(self.paths, start_ns, out)
        end_ns = 0
        reassembler = PayloadReassembler()
        try:
            async for arrival_ns, event_type, body in read_events(stream, "InvokeEndpointWithResponseStream"):
                if event_type != "PayloadPart":
                    continue
                data = body if isinstance(body, bytes) else (body.get("Bytes") or b"")
                for value in reassembler.feed(data):
                    tally.add(value, arrival_ns)
            for value in reassembler.flush():
                tally.add(value)
            end_ns = now_ns()  # the stream's end was read
        finally:
            tally.finish(end_ns)
            stream.close()
            if reassembler.skipped:
                out.annotations["skipped_stream_lines"] = reassembler.skipped


def _sagemaker_payload(
    prompt: str, max_tokens: int | None, stream: bool, output_format: str | None = None, **kwargs: Any
) -> dict[str, Any]:
    return request_body(output_format or DEFAULT_SAGEMAKER_FORMAT, prompt, max_tokens, stream, **kwargs)
