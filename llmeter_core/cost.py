"""Cost of a run from prices you give: per token (APIs) or per instance hour (provisioned).

Prices are inputs, never fetched. ``Pricing`` holds them (``pricing:`` of an endpoint in a
spec or suite file); ``CostModel`` is the callback that applies them, with LLMeter's cost
model (``llmeter.callbacks.cost``) as the reference for what is charged:

- **per request** (token prices): ``(num_tokens_input - num_tokens_input_cached) x
  input_per_1m / 1e6 + num_tokens_input_cached x cached_input_per_1m / 1e6 +
  num_tokens_output x output_per_1m / 1e6``, kept in the response as
  ``annotations["cost"]``. Cached tokens are charged at the input price when
  ``cached_input_per_1m`` is not given. Every response with token counts is charged, failed
  ones included (a stream cut half-way was still generated); a response without counts
  (a 429) costs nothing.
- **per run** (``instance_per_hour`` x ``instances``): charged for the run's
  ``total_test_time``, whatever the requests did.

The run's figures go to stats.json (see ``CostModel.contributed_stats``): ``cost_total``,
``cost_input``, ``cost_cached_input``, ``cost_output``, ``cost_instance``, and
``cost_per_1k_requests`` (over successful requests) and ``cost_per_1m_output_tokens`` (over
the output tokens of successful requests, ``total_output_tokens``), plus ``cost_currency``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .callbacks import Callback
from .tokenizers import count_tokens

if TYPE_CHECKING:  # pragma: no cover
    from .response import InvocationResponse
    from .results import Result
    from .runner import Runner

__all__ = ["Pricing", "CostModel", "COST_KEYS"]

#: The stats.json keys a CostModel contributes.
COST_KEYS = (
    "cost_total",
    "cost_input",
    "cost_cached_input",
    "cost_output",
    "cost_instance",
    "cost_per_1k_requests",
    "cost_per_1m_output_tokens",
    "cost_currency",
)


class Pricing(BaseModel):
    """Prices of one endpoint: per million tokens, and/or per instance hour."""

    model_config = ConfigDict(extra="forbid")

    input_per_1m: float | None = Field(None, ge=0, description="Price of 1M input (prompt) tokens")
    output_per_1m: float | None = Field(None, ge=0, description="Price of 1M output tokens (reasoning included)")
    cached_input_per_1m: float | None = Field(
        None, ge=0, description="Price of 1M input tokens read from the prompt cache (default: input_per_1m)"
    )
    instance_per_hour: float | None = Field(
        None, ge=0, description="Price of one instance for an hour (SageMaker, provisioned throughput)"
    )
    instances: int = Field(1, ge=1, description="Instances billed with instance_per_hour")
    currency: str = Field("USD", min_length=1, description="Currency of every price (a label only)")

    @model_validator(mode="after")
    def _some_price(self) -> "Pricing":
        if all(
            v is None for v in (self.input_per_1m, self.output_per_1m, self.cached_input_per_1m, self.instance_per_hour)
        ):
            raise ValueError(
                "give at least one price: input_per_1m, output_per_1m, cached_input_per_1m or instance_per_hour"
            )
        if self.cached_input_per_1m is not None and self.input_per_1m is None:
            raise ValueError("cached_input_per_1m needs input_per_1m (uncached input tokens need a price too)")
        if "instances" in self.model_fields_set and self.instance_per_hour is None:
            raise ValueError("instances applies to instance_per_hour, which is not set")
        return self

    def request_cost(
        self, input_tokens: int | None, cached_tokens: int | None, output_tokens: int | None
    ) -> tuple[float, float, float]:
        """(input, cached input, output) cost of one request's token counts."""
        cached = min(cached_tokens or 0, input_tokens or 0)
        uncached = (input_tokens or 0) - cached
        input_price = self.input_per_1m or 0.0
        cached_price = self.cached_input_per_1m if self.cached_input_per_1m is not None else input_price
        return (
            uncached * input_price / 1e6,
            cached * cached_price / 1e6,
            (output_tokens or 0) * (self.output_per_1m or 0.0) / 1e6,
        )

    def instance_cost(self, seconds: float | None) -> float:
        """What the instances cost over ``seconds``."""
        if self.instance_per_hour is None or not seconds:
            return 0.0
        return self.instance_per_hour * self.instances * seconds / 3600.0


class CostModel(Callback):
    """Prices every request (``annotations["cost"]``) and the run (stats.json ``cost_*``).

    Token counts missing from a response (an API that reports no usage) are counted with the
    run's tokenizer, as the runner does when it records the response.
    """

    def __init__(self, pricing: Pricing | dict[str, Any]):
        self.pricing = pricing if isinstance(pricing, Pricing) else Pricing.model_validate(pricing)
        self._tokenizer: Any = None
        self._input = self._cached = self._output = 0.0
        self._ok_requests = 0
        self._ok_output_tokens = 0
        self._instance = 0.0
        self._priced_tokens = any(v is not None for v in (self.pricing.input_per_1m, self.pricing.output_per_1m))

    async def before_run(self, runner: "Runner") -> None:
        self._tokenizer = runner.tokenizer

    async def after_invoke(self, response: "InvocationResponse") -> None:
        n_in, n_out = response.num_tokens_input, response.num_tokens_output
        if self._tokenizer is not None:
            if n_out is None and response.response_text is not None:
                n_out = count_tokens(self._tokenizer, response.response_text)
            if n_in is None and response.input_prompt is not None and (response.ok or response.response_text):
                n_in = count_tokens(self._tokenizer, response.input_prompt)
        if response.ok:
            self._ok_requests += 1
            self._ok_output_tokens += n_out or 0
        if not self._priced_tokens or (n_in is None and n_out is None):
            return
        if not response.ok and not response.response_text:
            return  # a request that failed before producing anything is not billed

        cost_in, cost_cached, cost_out = self.pricing.request_cost(n_in, response.num_tokens_input_cached, n_out)
        self._input += cost_in
        self._cached += cost_cached
        self._output += cost_out
        response.annotations["cost"] = cost_in + cost_cached + cost_out

    async def after_run(self, result: "Result") -> None:
        self._instance = self.pricing.instance_cost(result.total_test_time)

    def contributed_stats(self) -> dict[str, Any]:
        total = self._input + self._cached + self._output + self._instance
        return {
            "cost_total": total,
            "cost_input": self._input,
            "cost_cached_input": self._cached,
            "cost_output": self._output,
            "cost_instance": self._instance,
            "cost_per_1k_requests": total * 1000.0 / self._ok_requests if self._ok_requests else None,
            "cost_per_1m_output_tokens": total * 1e6 / self._ok_output_tokens if self._ok_output_tokens else None,
            "cost_currency": self.pricing.currency,
        }

    def to_config(self) -> dict[str, Any]:
        return {**super().to_config(), "pricing": self.pricing.model_dump(exclude_none=True)}
