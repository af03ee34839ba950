"""Token counting when the API reports no usage.

Any object with ``encode(text) -> sequence`` works as a tokenizer (a Hugging Face or tiktoken
tokenizer, for instance). The default splits on whitespace: crude but offline and free.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

__all__ = ["Tokenizer", "WhitespaceTokenizer", "count_tokens", "describe_tokenizer"]


class Tokenizer(Protocol):
    def encode(self, text: str) -> Sequence[Any]: ...


class WhitespaceTokenizer:
    """Counts whitespace-separated words."""

    def encode(self, text: str) -> list[str]:
        return text.split()


def count_tokens(tokenizer: Tokenizer, text: str | None) -> int | None:
    if text is None:
        return None
    return len(tokenizer.encode(text))


def describe_tokenizer(tokenizer: Tokenizer) -> str:
    """A name for run_config.json."""
    cls = type(tokenizer)
    return f"{cls.__module__}.{cls.__qualname__}"
