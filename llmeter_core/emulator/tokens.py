"""The emulator's output text: deterministic words, one word per token.

Token ``i`` is the word ``tok<i>``; streamed pieces after the first carry a leading space, so
the concatenated text is ``"tok0 tok1 ... tok<n-1>"`` and a whitespace tokenizer counts
exactly the tokens that were sent. The words are plain ASCII and need no JSON escaping,
which lets handlers splice them into pre-encoded byte templates.
"""

from __future__ import annotations

__all__ = ["token_piece", "token_text", "full_text", "thinking_piece"]

_CACHE_SIZE = 4096
_PIECES = [(f"tok{i}" if i == 0 else f" tok{i}").encode() for i in range(_CACHE_SIZE)]


def token_piece(index: int) -> bytes:
    """The bytes streamed for token ``index`` (with its leading space when index > 0)."""
    if index < _CACHE_SIZE:
        return _PIECES[index]
    return f" tok{index}".encode()


def token_text(index: int) -> str:
    """``token_piece`` as str."""
    return token_piece(index).decode()


def full_text(n_tokens: int, start: int = 0) -> str:
    """The text of tokens ``start`` .. ``n_tokens - 1`` concatenated."""
    return b"".join(token_piece(i) for i in range(start, n_tokens)).decode()


def thinking_piece(index: int) -> bytes:
    """The bytes of reasoning token ``index`` (``think<i>``, a leading space after the first):
    Anthropic thinking deltas and the OpenAI streams' reasoning deltas."""
    return b"think%d" % index if index == 0 else b" think%d" % index
