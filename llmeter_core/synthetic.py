"""Synthetic workloads: prompts of asked token lengths, replies of asked lengths.

``payloads: {synthetic: {...}}`` in a spec or suite file::

    synthetic:
      input_tokens: {mean: 512, stdev: 128, min: 64, max: 2048}
      output_tokens: {mean: 256}           # stdev 0: every request asks for 256
      count: 1000                          # distinct payloads (each client walks its own shuffle)
      shared_prefix_tokens: 0              # the same first N tokens in every prompt (a cacheable prefix)
      exact_output: false                  # also ask for at least the asked length (vLLM min_tokens, ignore_eos)
      seed: 0

Lengths are drawn from a normal distribution (rounded, clipped to ``[min, max]``, at least
1) with one seeded generator, so a seed gives the same workload every time. A prompt is
random English words measured with the run's tokenizer (``tokenizer:``): with ``whitespace``
it has exactly the asked number of words; with ``hf:``/``tiktoken:`` it is cut at the asked
token count and checked by encoding it again. The server counts its own tokens (its
tokenizer, its chat template), so ``num_tokens_input`` differs from the asked length by that
much.

The reply length is asked for with ``max_tokens`` in the endpoint type's own body (its
payload builder). ``exact_output`` adds what makes a server generate exactly that much
where the API accepts it (``EXACT_OUTPUT``); other types refuse it by name.

Every response records the asked lengths (``annotations.asked_input_tokens``,
``annotations.asked_output_tokens``), and stats.json gets ``asked_input_tokens-average``,
``asked_output_tokens-average`` and ``output_tokens_short_requests`` (successful responses
with fewer output tokens than asked), so asked vs got can be checked.
"""

from __future__ import annotations

import asyncio
import random
from typing import TYPE_CHECKING, Any, Callable

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .callbacks import Callback
from .errors import ConfigError
from .tokenizers import Tokenizer, WhitespaceTokenizer

if TYPE_CHECKING:  # pragma: no cover
    from .endpoints.base import Endpoint
    from .response import InvocationResponse

__all__ = [
    "LengthSpec",
    "SyntheticSpec",
    "SyntheticLengths",
    "build_synthetic",
    "prompt_of_length",
    "WORDS",
    "EXACT_OUTPUT",
]

#: Plain words prompts are made of (common English, one whitespace token each).
WORDS: tuple[str, ...] = tuple(
    """
time year people way day man thing woman life child world school state family student group country
problem hand part place case week company system program question work government number night point
home water room mother area money story fact month lot right study book eye job word business issue
side kind head house service friend father power hour game line end member law car city community name
president team minute idea kid body information back parent face others level office door health
person art war history party result change morning reason research girl guy moment air teacher force
education foot boy age policy music market sense nation plan college interest death experience effect
class control care field development role effort rate heart drug show leader light voice wife police
mind price report decision son view relationship town road arm difference value building action model
season society tax director position player record paper space ground form event official matter
center couple site project activity star table need court oil situation cost industry figure street
image phone data picture practice piece land product doctor wall patient worker news test movie north
love support technology step baby computer type attention film tree source organization hair window
evidence population truth song energy garden river ocean mountain bridge letter engine signal answer
""".split()
)

#: Body keys that ask a server for at least ``n`` output tokens, per endpoint type (vLLM and
#: SGLang's OpenAI-compatible servers accept ``min_tokens`` and ``ignore_eos``).
EXACT_OUTPUT: dict[str, Callable[[int], dict[str, Any]]] = {
    "openai-chat": lambda n: {"min_tokens": n, "ignore_eos": True},
}

_FIT_ROUNDS = 8


class LengthSpec(BaseModel):
    """A token length: normal(mean, stdev), rounded and clipped to [min, max]."""

    model_config = ConfigDict(extra="forbid")

    mean: int = Field(ge=1, description="Mean length in tokens")
    stdev: float = Field(0.0, ge=0, description="Standard deviation in tokens (0: every request the mean)")
    min: int | None = Field(None, ge=1, description="Shortest length drawn")
    max: int | None = Field(None, ge=1, description="Longest length drawn")

    @model_validator(mode="after")
    def _ordered(self) -> "LengthSpec":
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is above max ({self.max})")
        return self

    def draw(self, rng: random.Random) -> int:
        value = round(rng.gauss(self.mean, self.stdev)) if self.stdev else self.mean
        if self.min is not None:
            value = max(value, self.min)
        if self.max is not None:
            value = min(value, self.max)
        return max(1, value)

    @property
    def floor(self) -> int:
        """The shortest length this spec can draw."""
        return self.min if self.min is not None else (self.mean if not self.stdev else 1)


class SyntheticSpec(BaseModel):
    """``payloads.synthetic``: see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    input_tokens: LengthSpec = Field(description="Prompt length in the run's tokenizer")
    output_tokens: LengthSpec = Field(description="Reply length asked for (max_tokens)")
    count: int = Field(100, ge=1, le=1_000_000, description="Distinct payloads built")
    shared_prefix_tokens: int = Field(0, ge=0, description="Tokens every prompt starts with (the same text)")
    exact_output: bool = Field(False, description="Also ask for at least the asked length where the API accepts it")
    seed: int = Field(0, description="Seed of the lengths and the words")

    @model_validator(mode="after")
    def _prefix_fits(self) -> "SyntheticSpec":
        if self.shared_prefix_tokens and self.shared_prefix_tokens >= self.input_tokens.floor:
            raise ValueError(
                f"shared_prefix_tokens ({self.shared_prefix_tokens}) must be below the shortest prompt "
                f"input_tokens can draw ({self.input_tokens.floor}); set input_tokens.min"
            )
        return self


def _words(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n))


def prompt_of_length(tokenizer: Tokenizer, n: int, rng: random.Random, prefix: str = "") -> str:
    """Random words after ``prefix`` making ``n`` tokens in ``tokenizer`` (exactly, for the
    whitespace tokenizer; for others cut at ``n`` tokens and re-checked, which lands on ``n``
    except where a cut token re-encodes differently, then within a token or two)."""
    joint = " " if prefix else ""
    if isinstance(tokenizer, WhitespaceTokenizer):
        words = n - len(prefix.split())
        return prefix + joint + _words(rng, max(words, 0)) if words > 0 else prefix
    encode = tokenizer.encode
    decode = getattr(tokenizer, "decode", None)
    head = len(encode(prefix)) if prefix else 0
    text = prefix + joint + _words(rng, max(n - head, 1))
    for _ in range(_FIT_ROUNDS):
        ids = encode(text)
        if len(ids) == n:
            return text
        if len(ids) < n:
            text = text + " " + _words(rng, max(n - len(ids), 1))
        elif decode is not None:
            text = decode(list(ids)[:n])
        else:
            text = text.rsplit(" ", 1)[0] if " " in text else text
    return text


class SyntheticLengths(Callback):
    """Records the asked lengths in every response of a synthetic workload.

    The payloads are looked up by identity in ``before_invoke`` (so this callback runs first,
    before any callback that replaces payloads) and the lengths are attached in the same
    client task's ``after_invoke``.
    """

    def __init__(self, spec: SyntheticSpec, asked: dict[int, tuple[int, int]], tokenizer: str):
        self.spec = spec
        self._asked = asked
        self._tokenizer = tokenizer
        self._pending: dict[asyncio.Task[Any] | None, tuple[int, int]] = {}
        self._ok = 0
        self._asked_in = 0
        self._asked_out = 0
        self._short = 0

    async def before_invoke(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        asked = self._asked.get(id(payload))
        if asked is not None:
            self._pending[asyncio.current_task()] = asked
        return None

    async def after_invoke(self, response: "InvocationResponse") -> None:
        asked = self._pending.pop(asyncio.current_task(), None)
        if asked is None:
            return
        n_in, n_out = asked
        response.annotations["asked_input_tokens"] = n_in
        response.annotations["asked_output_tokens"] = n_out
        if response.ok:
            self._ok += 1
            self._asked_in += n_in
            self._asked_out += n_out
            if response.num_tokens_output is not None and response.num_tokens_output < n_out:
                self._short += 1

    def contributed_stats(self) -> dict[str, Any]:
        return {
            "asked_input_tokens-average": self._asked_in / self._ok if self._ok else None,
            "asked_output_tokens-average": self._asked_out / self._ok if self._ok else None,
            "output_tokens_short_requests": self._short,
        }

    def to_config(self) -> dict[str, Any]:
        return {**super().to_config(), "synthetic": self.spec.model_dump(), "tokenizer": self._tokenizer}


def build_synthetic(
    spec: SyntheticSpec, endpoint: "Endpoint", tokenizer: Tokenizer, extra: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], SyntheticLengths]:
    """The payloads of a synthetic workload in ``endpoint``'s request body, and the callback
    that records their asked lengths."""
    from .tokenizers import describe_tokenizer

    exact = None
    if spec.exact_output:
        exact = EXACT_OUTPUT.get(endpoint.endpoint_type)
        if exact is None:
            raise ConfigError(
                "payloads.synthetic.exact_output",
                f"not supported by endpoint type {endpoint.endpoint_type!r}: its API has no minimum "
                f"output length (supported: {', '.join(sorted(EXACT_OUTPUT))}); max_tokens is always set",
            )
    lengths = random.Random(spec.seed)
    words = random.Random(spec.seed + 1)
    prefix = (
        prompt_of_length(tokenizer, spec.shared_prefix_tokens, random.Random(spec.seed + 2))
        if spec.shared_prefix_tokens
        else ""
    )
    payloads: list[dict[str, Any]] = []
    asked: dict[int, tuple[int, int]] = {}
    for _ in range(spec.count):
        n_in = spec.input_tokens.draw(lengths)
        n_out = spec.output_tokens.draw(lengths)
        prompt = prompt_of_length(tokenizer, n_in, words, prefix)
        options = {**(extra or {}), **(exact(n_out) if exact else {})}
        payload = endpoint.payload_for(prompt, n_out, **options)
        payloads.append(payload)
        asked[id(payload)] = (n_in, n_out)
    return payloads, SyntheticLengths(spec, asked, describe_tokenizer(tokenizer))
