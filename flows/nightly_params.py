"""The suite-file options of the nightly comparison: ``baseline``, ``regression``,
``on_regression`` and ``emulator``.

```yaml
baseline: {last: 7}            # or a date 2026-11-20, or a run/night folder URL; default: last night
regression:
  confidence: 0.99             # significance of a change
  threshold:                   # practical thresholds (fractions; default 0.10)
    time_to_first_token-p90: 0.05
    failed_requests_rate: 0.02 # absolute points of error rate (default 0.01)
on_regression: fail            # fail | warn
emulator:                      # the nightly starts this emulator itself (the demo suite)
  kind: openai
  ttft_ms: 50
  latency_scale: 1.0
```

Kept apart from ``params.py`` (run plans) because only the nightly reads them; sweeps built
from a suite drop them (``NIGHTLY_FIELDS``).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator

from llmeter_core.baseline import BaselinePolicy
from llmeter_core.compare import CompareSettings
from llmeter_core.emulator.config import EmulatorConfig
from llmeter_core.errors import ConfigError

__all__ = ["NIGHTLY_FIELDS", "RegressionSpec", "EmulatorSpec", "check_baseline"]

#: Suite fields only the nightly flow uses (excluded when a suite becomes sweeps).
NIGHTLY_FIELDS: frozenset[str] = frozenset({"baseline", "regression", "on_regression", "emulator"})

_EMULATOR_FIELDS = frozenset(f.name for f in fields(EmulatorConfig))


class RegressionSpec(BaseModel):
    """When a change counts as a regression."""

    model_config = ConfigDict(extra="forbid")

    confidence: float = Field(
        0.99, description="Confidence a change must reach to count (two-sided bootstrap interval)"
    )
    threshold: dict[str, float] = Field(
        default_factory=dict,
        description="Practical thresholds by metric (time_to_first_token-p90: 0.05), family (time_to_first_token) "
        "or default; fractions of the baseline, failed_requests_rate in absolute points",
    )

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, value: float) -> float:
        if not 0.5 <= value < 1:
            raise ValueError(f"must be in [0.5, 1), got {value}")
        return value

    @field_validator("threshold")
    @classmethod
    def _thresholds(cls, value: dict[str, float]) -> dict[str, float]:
        try:
            CompareSettings.build(value, threshold_field="{key}")
        except ConfigError as exc:
            raise ValueError(f"{exc.field}: {exc.message}") from None
        return value

    def settings(self, seed: int = 0) -> CompareSettings:
        return CompareSettings.build(self.threshold, self.confidence, seed=seed)


class EmulatorSpec(BaseModel):
    """An emulator the nightly starts on 127.0.0.1 for the length of the run; every other key
    is an emulator setting (ttft_ms, itl_ms, output_tokens, rate_500, latency_scale, seed...)."""

    model_config = ConfigDict(extra="allow")

    kind: Literal["openai", "bedrock", "sagemaker", "all"] = Field("openai", description="Which API it serves")

    @model_validator(mode="after")
    def _valid(self) -> "EmulatorSpec":
        unknown = sorted(set(self.model_extra or {}) - _EMULATOR_FIELDS)
        if unknown:
            raise ValueError(f"unknown emulator setting {unknown[0]!r}; expected one of {sorted(_EMULATOR_FIELDS)}")
        self.config()
        return self

    def config(self) -> EmulatorConfig:
        try:
            return TypeAdapter(EmulatorConfig).validate_python(dict(self.model_extra or {}))
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                where = ".".join(str(p) for p in error["loc"])
                message = error["msg"].removeprefix("Value error, ")
                problems.append(f"{where}: {message}" if where else message)
            raise ValueError("; ".join(problems)) from None


def check_baseline(value: Any) -> Any:
    """Validate a suite's ``baseline:`` (the value is kept as written)."""
    try:
        BaselinePolicy.parse(value)
    except ConfigError as exc:
        inner = exc.field.removeprefix("baseline").lstrip(".")
        raise ValueError(f"{inner}: {exc.message}" if inner else exc.message) from None
    return value
