"""What an emulator serves: latency model, output length, faults, usage extras, seed.

A latency or length setting is either a number (fixed) or a distribution spec drawn once per
request from the emulator's seeded generator, so two runs with the same seed and the same
arrival order get the same schedule::

    {"dist": "fixed", "value": 100}
    {"dist": "normal", "mean": 100, "std": 10}          # clipped at 0
    {"dist": "uniform", "low": 50, "high": 150}
    {"dist": "lognormal", "median": 100, "sigma": 0.3}  # exp(N(ln median, sigma))

Every spec may add ``"min"``/``"max"`` to clip. Fault rates are probabilities per request,
drawn from the same generator; their sum must not exceed 1.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, Union

from llmeter_core.errors import ConfigError

__all__ = ["EmulatorConfig", "DistSpec", "DISCONNECT_MODES", "parse_dist", "validate_dist"]

DistSpec = Union[float, int, dict]

DISCONNECT_MODES = ("auto", "drop", "error")

_DIST_KEYS = {
    "fixed": ("value",),
    "normal": ("mean", "std"),
    "uniform": ("low", "high"),
    "lognormal": ("median", "sigma"),
}


def validate_dist(field: str, spec: Any) -> None:
    """Raise ConfigError naming ``field`` unless ``spec`` is a number or a valid distribution."""
    if isinstance(spec, bool):
        raise ConfigError(field, "expected a number or a distribution, got a bool")
    if isinstance(spec, (int, float)):
        if spec < 0:
            raise ConfigError(field, f"must be >= 0, got {spec}")
        return
    if not isinstance(spec, dict):
        raise ConfigError(field, f"expected a number or a distribution dict, got {spec!r}")
    kind = spec.get("dist")
    if kind not in _DIST_KEYS:
        raise ConfigError(field, f"unknown dist {kind!r}; expected one of {sorted(_DIST_KEYS)}")
    allowed = {"dist", "min", "max", *_DIST_KEYS[kind]}
    unknown = set(spec) - allowed
    if unknown:
        raise ConfigError(field, f"unknown keys {sorted(unknown)} for dist {kind!r}")
    for key in _DIST_KEYS[kind]:
        value = spec.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{field}.{key}", f"required number, got {value!r}")
        if value < 0:
            raise ConfigError(f"{field}.{key}", f"must be >= 0, got {value}")
    if kind == "uniform" and spec["low"] > spec["high"]:
        raise ConfigError(field, "uniform needs low <= high")
    if kind == "lognormal" and spec["median"] <= 0:
        raise ConfigError(f"{field}.median", "must be > 0")


def parse_dist(text: str) -> DistSpec:
    """Parse a CLI value: a number (``"100"``) or a JSON distribution spec."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError("dist", f"not a number or JSON distribution: {text!r} ({exc})") from None


@dataclass
class EmulatorConfig:
    """Settings of one emulator. All times in milliseconds.

    ``cached_tokens``/``reasoning_tokens`` are reported in usage (cached capped at the prompt
    size; reasoning tokens are added to the completion count as real APIs do, but no text is
    streamed for them). ``cache_write_tokens`` are prompt tokens reported as written to the
    prompt cache, by the APIs that report writes (Bedrock Converse, Anthropic and Nova bodies,
    the Bedrock token-count headers and invocation metrics; capped at the prompt left after
    the cached tokens). Where an API counts cached tokens apart from its input count, as
    Bedrock does, its input count leaves both out; the ground truth's ``input_tokens`` is
    always the whole prompt. ``disconnect_mode`` decides what a ``rate_disconnect`` fault does
    mid-stream: ``drop`` closes the connection, ``error`` sends an in-band error (an OpenAI
    ``error`` chunk/event, an AWS eventstream ``exception`` message), ``auto`` is ``drop``
    for OpenAI and ``error`` for Bedrock/SageMaker streams. ``max_records`` bounds the
    per-request ground truth kept in memory (oldest dropped first). ``prefix_cache`` turns on
    the prompt-prefix cache model (``prefix_cache.py``: blocks of
    ``prefix_cache_block_tokens``, at most ``prefix_cache_max_blocks`` kept, the cached share
    of a prompt cutting ``prefix_cache_ttft_saving`` of its TTFT); its cached tokens replace
    ``cached_tokens``.
    ``max_concurrency`` is a capacity model: at most that many requests are served at once
    (0: no limit); the rest wait in arrival order before their handler starts, so their time
    to first token as a client sees it includes the queue, and the ground truth records each
    request's ``queue_ms``. It makes an overloaded endpoint to test open-loop load against.
    ``omit_usage`` makes the OpenAI streams report no usage whatever the client asks (as some
    OpenAI-compatible servers ignore ``stream_options.include_usage``; a Responses stream's
    final response then has ``usage: null``). ``stream_reasoning`` streams the
    ``reasoning_tokens`` as reasoning deltas before the answer on the OpenAI streams (Chat:
    ``delta.reasoning_content``; Responses: ``response.reasoning_text.delta``), one token
    per ``itl_ms`` from the TTFT, the answer's first token following the last reasoning one;
    the ground truth then has the first token, the first answer token and the end of each
    response.
    ``latency_scale`` multiplies every drawn time to first token and time between tokens
    (not the slow-first-byte fault), so one setting makes a whole "night" slower or faster
    on purpose (1.2: 20 % slower) while the distributions keep their shape.
    ``tokens_per_second`` is a shared decoding throughput (0: no limit): all streams together
    get at most that many output tokens a second (``token_budget.py``), so each stream's
    inter-token latency grows with the number of streams served at once, as on a real
    batched server.
    """

    ttft_ms: DistSpec = 100.0
    itl_ms: DistSpec = 10.0
    output_tokens: DistSpec = 20
    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_disconnect: float = 0.0
    rate_slow_first_byte: float = 0.0
    slow_first_byte_ms: float = 1000.0
    retry_after_s: float = 1.0
    disconnect_mode: Literal["auto", "drop", "error"] = "auto"
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    omit_usage: bool = False
    stream_reasoning: bool = False
    prefix_cache: bool = False
    prefix_cache_block_tokens: int = 16
    prefix_cache_max_blocks: int = 100_000
    prefix_cache_ttft_saving: float = 0.8
    model: str = "emulator-model"
    seed: int = 0
    latency_scale: float = 1.0
    max_records: int = 100_000
    max_concurrency: int = 0
    tokens_per_second: float = 0.0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise ConfigError naming the first bad field."""
        for name in ("ttft_ms", "itl_ms", "output_tokens"):
            validate_dist(name, getattr(self, name))
        rates = ("rate_429", "rate_500", "rate_disconnect", "rate_slow_first_byte")
        for name in rates:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ConfigError(name, f"must be a probability in [0, 1], got {value!r}")
        if sum(getattr(self, name) for name in rates) > 1 + 1e-9:
            raise ConfigError("rate_429", "the fault rates must sum to at most 1")
        for name in ("slow_first_byte_ms", "retry_after_s", "cached_tokens", "cache_write_tokens", "reasoning_tokens"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigError(name, f"must be a number >= 0, got {value!r}")
        for name in ("omit_usage", "stream_reasoning"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, f"must be true or false, got {getattr(self, name)!r}")
        scale = self.latency_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 0 < scale < float("inf"):
            raise ConfigError("latency_scale", f"must be a number > 0, got {scale!r}")
        tps = self.tokens_per_second
        if isinstance(tps, bool) or not isinstance(tps, (int, float)) or not 0 <= tps < float("inf"):
            raise ConfigError("tokens_per_second", f"must be a number >= 0 (0: no limit), got {tps!r}")
        if self.disconnect_mode not in DISCONNECT_MODES:
            raise ConfigError("disconnect_mode", f"expected one of {DISCONNECT_MODES}")
        for name in ("max_records", "max_concurrency"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError(name, f"must be a whole number >= 0, got {value!r}")
        for name in ("prefix_cache_block_tokens", "prefix_cache_max_blocks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(name, f"must be an int >= 1, got {value!r}")
        saving = self.prefix_cache_ttft_saving
        if isinstance(saving, bool) or not isinstance(saving, (int, float)) or not 0 <= saving <= 1:
            raise ConfigError("prefix_cache_ttft_saving", f"must be a share in [0, 1], got {saving!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able settings (served by ``GET /emulator/stats``)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EmulatorConfig":
        """Build from a dict, rejecting unknown keys by name."""
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ConfigError(key, f"unknown emulator setting; expected one of {sorted(known)}")
        return cls(**data)
