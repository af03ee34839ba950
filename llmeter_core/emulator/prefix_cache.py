"""A prompt-prefix cache model: a prefix seen before is reported as cached and served faster.

What vLLM's automatic prefix caching, SGLang's radix cache and the hosted APIs' prompt
caches do, reduced to what a load test can observe: the prompt (its words, the emulator's
tokens, in reading order: system prompt first) is cut into blocks of ``block_tokens``; a
request's cached tokens are its leading blocks already seen (each block keyed by its own
words *and* everything before it, so only true prefixes match), and every block it has is
then kept, least recently used first out beyond ``max_blocks``. Partial blocks never match.

The cached tokens are reported in usage (``cached_tokens``, ``cacheReadInputTokens``,
``cache_read_input_tokens``) and shorten the time to first token: the prefill part of the
TTFT shrinks with the cached share of the prompt,
``ttft x (1 - ttft_saving x cached / prompt tokens)`` (a slow-first-byte delay is not
shortened). So a run with ``CacheBuster`` (a unique marker at the start of every prompt)
shows no cached tokens and the full TTFT, and one without shows both effects.

Enabled by the emulator option ``prefix_cache`` (``--prefix-cache``); ``reset`` empties it.
"""

from __future__ import annotations

import dataclasses
from collections import OrderedDict
from typing import Any

from llmeter_core.emulator.latency import Schedule
from llmeter_core.endpoints.base import extract_prompt

__all__ = ["PrefixCache"]


class PrefixCache:
    """LRU of prompt-prefix blocks (see the module docstring). One event loop: no locking."""

    __slots__ = ("block_tokens", "max_blocks", "ttft_saving", "_blocks", "hits", "lookups")

    def __init__(self, block_tokens: int = 16, max_blocks: int = 100_000, ttft_saving: float = 0.8):
        self.block_tokens = block_tokens
        self.max_blocks = max_blocks
        self.ttft_saving = ttft_saving
        self._blocks: OrderedDict[int, None] = OrderedDict()
        self.hits = 0  # requests with at least one cached block
        self.lookups = 0

    def serve(self, words: list[str]) -> int:
        """Cached tokens of a prompt of these words; remembers its blocks."""
        self.lookups += 1
        size = self.block_tokens
        blocks = self._blocks
        key = 0
        cached = 0
        matching = True
        for start in range(0, len(words) - size + 1, size):
            key = hash((key, *words[start : start + size]))
            if key in blocks:
                blocks.move_to_end(key)
                if matching:
                    cached += size
            else:
                matching = False
                blocks[key] = None
        while len(blocks) > self.max_blocks:
            blocks.popitem(last=False)
        if cached:
            self.hits += 1
        return cached

    def apply(self, body: dict[str, Any], input_tokens: int, schedule: Schedule) -> tuple[int, Schedule]:
        """(cached tokens, the schedule with its TTFT shortened) for one request's body."""
        text = extract_prompt(body) or ""
        cached = min(self.serve(text.split()), input_tokens)
        if not cached:
            return 0, schedule
        prefill = schedule.ttft_s - schedule.first_byte_s
        faster = prefill * (1.0 - self.ttft_saving * cached / input_tokens)
        return cached, dataclasses.replace(schedule, ttft_s=schedule.first_byte_s + faster)

    def stats(self) -> dict[str, int]:
        return {"lookups": self.lookups, "hits": self.hits, "blocks": len(self._blocks)}
