"""An in-process endpoint for engine tests: no network, latencies a test can reason about.

Like httpx's MockTransport: a real Endpoint subclass whose "API call" is a scripted sleep,
so runner, stats and lifecycle behaviour is tested without a server.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

from llmeter_core.clock import now_ns
from llmeter_core.endpoints.base import Endpoint
from llmeter_core.response import InvocationResponse


class ScriptedError(Exception):
    error_type = "scripted_error"


class FakeEndpoint(Endpoint):
    """Streams ``tokens`` words: first after ``ttft`` s, then one every ``itl`` s.

    ``fail_every``: every n-th call raises after the first token (a mid-stream failure).
    ``on_payload``: called with each prepared payload (to observe what was sent).
    """

    endpoint_type = "fake"

    def __init__(
        self,
        ttft: float = 0.0,
        itl: float = 0.0,
        tokens: int = 3,
        fail_every: int = 0,
        on_payload: Callable[[dict[str, Any]], None] | None = None,
        api_key: str = "sk-secret-never-written",
    ):
        super().__init__(model_id="fake-model", provider="fake")
        self.ttft, self.itl, self.tokens, self.fail_every = ttft, itl, tokens, fail_every
        self.on_payload = on_payload
        self._api_key = api_key
        self.calls = 0
        self.opened = self.closed = 0
        self.opened_for = 0  # the ``clients`` hint of the last open()

    async def open(self, clients: int = 1) -> None:
        self.opened += 1
        self.opened_for = clients

    async def aclose(self) -> None:
        self.closed += 1

    @staticmethod
    def create_payload(prompt: str, max_tokens: int | None = None, **kwargs: Any) -> dict[str, Any]:
        return {"prompt": prompt, "max_tokens": max_tokens, **kwargs}

    def prepare_payload(self, payload: dict[str, Any]) -> dict[str, Any]:
        return {**payload, "model": self.model_id}

    async def invoke(self, payload: dict[str, Any]) -> Any:
        self.calls += 1
        if self.on_payload:
            self.on_payload(payload)
        return self.calls

    async def parse_response(self, raw: Any, start_ns: int, out: InvocationResponse) -> None:
        words: list[str] = []
        for i in range(self.tokens):
            await asyncio.sleep(self.ttft if i == 0 else self.itl)
            words.append(f"w{i}")
            out.response_text = " ".join(words)
            elapsed = (now_ns() - start_ns) / 1e9
            if i == 0:
                out.time_to_first_token = elapsed
            out.time_to_last_token = elapsed
            if self.fail_every and raw % self.fail_every == 0:
                raise ScriptedError("stream broke")
        out.num_tokens_output = self.tokens
