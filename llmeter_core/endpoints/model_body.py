"""What Bedrock InvokeModel and SageMaker endpoints share: bodies in the model's own JSON.

Both send a model family's native request body and read text and token counts out of its
answer with a ``response_formats`` preset (``output_format``) whose JMESPath expressions can
be overridden one by one. This base keeps that configuration, builds prompts in the
configured family, records it in run_config.json, and reads a complete (non-streamed) body.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..clock import now_ns
from ..response import InvocationResponse
from .aws import AwsEndpoint
from .response_formats import fill_from_body, resolve_format

__all__ = ["ModelBodyEndpoint"]

_PATH_OPTIONS = ("text_path", "input_tokens_path", "output_tokens_path", "cached_input_tokens_path")


class ModelBodyEndpoint(AwsEndpoint):
    """An ``AwsEndpoint`` whose bodies follow ``output_format`` (see module docstring)."""

    #: Whether this endpoint reads a stream of chunks (the presets differ for streams).
    stream: bool = False

    def use_format(self, name: str, **path_overrides: str | None) -> None:
        """Select the preset ``name`` and override any of its JMESPath expressions."""
        self.output_format = name
        self.path_overrides = {k: v for k, v in path_overrides.items() if v is not None and k in _PATH_OPTIONS}
        self.format, self.paths = resolve_format(name, self.stream, **self.path_overrides)

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        return dict(payload)

    def payload_for(self, prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """A body in this endpoint's own ``output_format``."""
        kwargs.setdefault("output_format", self.output_format)
        return self.create_payload(prompt, max_tokens, **kwargs)

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config["output_format"] = self.output_format
        config.update(self.path_overrides)
        return config

    async def read_body(self, body: Any, start_ns: int, out: InvocationResponse) -> None:
        """Read a complete answer body: time to last token at its end, then text and counts."""
        try:
            data = await body.read()
        finally:
            body.close()
        out.time_to_last_token = (now_ns() - start_ns) / 1e9
        fill_from_body(self.paths, orjson.loads(data), out)
