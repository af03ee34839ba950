"""A shared decoding throughput: at most ``tokens_per_second`` output tokens a second, all
streams together.

A real server decodes a batch of streams on one accelerator, so the more streams it serves
at once the slower each one gets. ``TokenBudget`` models that as one FIFO line of token
slots ``1 / tokens_per_second`` apart: a token due at ``t`` goes out at the first free slot
at or after ``t``, in the order the streams ask for their next token. Whatever the load, two
tokens never share a slot, so the emulator's total output rate never exceeds the budget; at
light load (slots free) every token goes out when its own latency model says.
"""

from __future__ import annotations

__all__ = ["TokenBudget"]


class TokenBudget:
    """The next free token slot on the event loop's clock."""

    __slots__ = ("_gap", "_next_free")

    def __init__(self, tokens_per_second: float):
        self._gap = 1.0 / tokens_per_second
        self._next_free = 0.0

    def reserve(self, due: float, tokens: int = 1) -> float:
        """Book ``tokens`` consecutive slots from ``due`` (``latency.now`` time) on; return when the last
        of them is, i.e. when a write carrying those tokens may go out."""
        start = due if due > self._next_free else self._next_free
        last = start + (tokens - 1) * self._gap
        self._next_free = last + self._gap
        return last
