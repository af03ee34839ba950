"""LiteLLM: one endpoint for the 100+ providers LiteLLM speaks (optional extra ``.[litellm]``).

LiteLLM is heavy (~380 MB installed, 4-6 s to import), so it is imported in ``open()``,
never at module import and never inside a measured request. Before the import,
``LITELLM_LOCAL_MODEL_COST_MAP`` is set (unless you set it) so LiteLLM reads its bundled model
price map instead of fetching one from the internet at start-up.

Payloads are OpenAI chat bodies (``messages``, ``max_tokens``, ``temperature``...); the model
is the endpoint's ``model_id`` in LiteLLM's ``provider/model`` form (a payload's own ``model``
and ``stream`` are replaced by the endpoint's; ``extra_params`` are defaults under each
payload). Streaming asks for usage (``stream_options.include_usage``) so token counts come
from the provider when it reports them. SDK retries default to none (``num_retries=0``): a
load test records failures, it does not hide them. ``api_key`` is passed to LiteLLM but never
recorded; prefer the provider's usual environment variable (``OPENAI_API_KEY``...) or name one
with ``api_key_env``.

LiteLLM's own per-chunk processing adds client overhead (~10 ms of TTFT measured against a
local emulator); for the closest figures use the native endpoints (OpenAI, Bedrock, SageMaker).
"""

from __future__ import annotations

import importlib.util
import logging
import os
from typing import Any

from ..checks import check_int
from ..clock import now_ns
from ..errors import ConfigError
from ..response import InvocationResponse
from .base import Endpoint

__all__ = ["LiteLLMEndpoint"]

logger = logging.getLogger(__name__)

_MISSING = "the 'litellm' endpoint needs LiteLLM: pip install 'llmeter-flows[litellm]'"


class LiteLLMEndpoint(Endpoint):
    """``litellm.acompletion``, streaming (default) or not."""

    endpoint_type = "litellm"

    def __init__(
        self,
        model_id: str,
        *,
        stream: bool = True,
        api_base: str | None = None,
        api_key: str | None = None,
        api_key_env: str | None = None,
        num_retries: int = 0,
        extra_params: dict[str, Any] | None = None,
        provider: str = "litellm",
    ):
        super().__init__(model_id, provider=provider)
        check_int("endpoint.num_retries", num_retries, 0)
        if api_key_env is not None and api_key is not None:
            raise ConfigError("endpoint.api_key_env", "give api_key or api_key_env, not both")
        self.stream = bool(stream)
        self.api_base = api_base
        self.api_key_env = api_key_env
        self._api_key = api_key
        self.add_secret(api_key)
        self.num_retries = num_retries
        self.extra_params = dict(extra_params or {})
        self._acompletion: Any = None

    def check_available(self) -> None:
        """LiteLLM is an optional extra: found (not imported) when the run is built."""
        if importlib.util.find_spec("litellm") is None:
            raise ConfigError("endpoint.type", _MISSING)

    async def open(self, clients: int = 1) -> None:
        """Import LiteLLM and warm its pipeline. ``clients`` is unused: LiteLLM opens and
        pools its own connections (no ``prewarm_connections`` here)."""
        if self._acompletion is not None:
            return
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        try:
            import litellm
        except ImportError as exc:
            raise ConfigError("endpoint.type", _MISSING) from exc
        litellm.suppress_debug_info = True
        if self.api_key_env is not None:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ConfigError("endpoint.api_key_env", f"environment variable {self.api_key_env} is not set")
            self._api_key = key
            self.add_secret(key)
        self._acompletion = litellm.acompletion
        await self._warm_up()

    async def _warm_up(self) -> None:
        """One mocked call (``mock_response``: nothing is sent) through LiteLLM's pipeline.

        LiteLLM imports its provider code and builds its logging objects on the first call
        (~0.7 s measured): paid here rather than in the first request's time to first token.
        """
        try:
            response = await self._acompletion(
                model=self.model_id,
                messages=[{"role": "user", "content": "warm-up"}],
                stream=self.stream,
                mock_response="warm-up",
                **self._client_kwargs(),
            )
            if self.stream:
                async for _ in response:
                    pass
        except Exception as exc:  # a real request will report any real problem
            logger.debug("LiteLLM warm-up failed: %s", self.redact(repr(exc)))

    def _client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"num_retries": self.num_retries}
        if self.api_base is not None:
            kwargs["api_base"] = self.api_base
        if self._api_key is not None:
            kwargs["api_key"] = self._api_key
        return kwargs

    async def aclose(self) -> None:
        self._acompletion = None

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        """An OpenAI chat body; other keywords (``temperature``...) are copied into it."""
        payload: dict[str, Any] = {"messages": [{"role": "user", "content": prompt}]}
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        payload.update(kwargs)
        return payload

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        prepared = {**self.extra_params, **payload}
        prepared.pop("model", None)
        prepared.pop("stream", None)
        if self.stream:
            prepared["stream_options"] = {**prepared.get("stream_options", {}), "include_usage": True}
        return prepared

    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config.update(
            stream=self.stream,
            api_base=self.api_base,
            api_key_env=self.api_key_env,
            num_retries=self.num_retries,
            extra_params=self.extra_params,
        )
        return config

    async def invoke(self, payload: dict[str, Any]) -> Any:
        if self._acompletion is None:
            raise RuntimeError("LiteLLMEndpoint is not open: use 'async with endpoint:' or await open()")
        return await self._acompletion(model=self.model_id, stream=self.stream, **payload, **self._client_kwargs())

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        if not self.stream:
            out.time_to_last_token = (now_ns() - start_ns) / 1e9
            out.id = getattr(raw, "id", None) or None
            choices = getattr(raw, "choices", None) or []
            if choices:
                message = getattr(choices[0], "message", None)
                content = getattr(message, "content", None)
                out.response_text = content if isinstance(content, str) else None
            _record_usage(getattr(raw, "usage", None), out)
            return
        texts: list[str] = []
        try:
            async for chunk in raw:
                if out.id is None and getattr(chunk, "id", None):
                    out.id = chunk.id
                choices = getattr(chunk, "choices", None)
                if choices:
                    content = getattr(getattr(choices[0], "delta", None), "content", None)
                    if content:
                        elapsed = (now_ns() - start_ns) / 1e9
                        if out.time_to_first_token is None:
                            out.time_to_first_token = elapsed
                        out.time_to_last_token = elapsed
                        texts.append(content)
                _record_usage(getattr(chunk, "usage", None), out)
        finally:
            if texts:
                out.response_text = "".join(texts)
            closer = getattr(raw, "aclose", None)
            if closer is not None:
                try:
                    await closer()
                except Exception:  # closing a finished or broken stream must not mask the outcome
                    pass


def _record_usage(usage: Any, out: InvocationResponse) -> None:
    if usage is None:
        return
    for attr, name in (("prompt_tokens", "num_tokens_input"), ("completion_tokens", "num_tokens_output")):
        value = getattr(usage, attr, None)
        if isinstance(value, int) and not isinstance(value, bool):
            setattr(out, name, value)
    cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None)
    if isinstance(cached, int) and not isinstance(cached, bool):
        out.num_tokens_input_cached = cached
    reasoning = getattr(getattr(usage, "completion_tokens_details", None), "reasoning_tokens", None)
    if isinstance(reasoning, int) and not isinstance(reasoning, bool) and reasoning:
        out.num_tokens_output_reasoning = reasoning
