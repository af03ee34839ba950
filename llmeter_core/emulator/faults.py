"""Fault injection by rate: which fault, if any, a request gets.

One uniform draw per request from the emulator's seeded generator is compared with the
cumulative rates, so the kinds are mutually exclusive and their frequencies match the
configured rates (a seeded run is reproducible for a given arrival order). What each kind
means on the wire is up to the handlers:

- ``429``: HTTP 429 with ``Retry-After`` (AWS: ``x-amzn-ErrorType: ThrottlingException``).
- ``500``: HTTP 500 (AWS: ``InternalServerException``).
- ``disconnect``: the stream stops half-way (a dropped connection or an in-band error, see
  ``EmulatorConfig.disconnect_mode``); a non-streaming request is dropped before its body.
- ``slow_first_byte``: nothing is sent for ``slow_first_byte_ms`` on top of the normal TTFT.
"""

from __future__ import annotations

import random

from llmeter_core.emulator.config import EmulatorConfig

__all__ = ["FAULT_KINDS", "FaultPicker"]

FAULT_KINDS = ("429", "500", "disconnect", "slow_first_byte")


class FaultPicker:
    """Draws the fault of each request. Skips the draw entirely when all rates are 0."""

    __slots__ = ("_thresholds", "_active")

    def __init__(self, config: EmulatorConfig):
        rates = (config.rate_429, config.rate_500, config.rate_disconnect, config.rate_slow_first_byte)
        total = 0.0
        thresholds = []
        for kind, rate in zip(FAULT_KINDS, rates, strict=True):
            if rate > 0:
                total += rate
                thresholds.append((total, kind))
        self._thresholds = tuple(thresholds)
        self._active = bool(thresholds)

    def pick(self, rng: random.Random) -> str | None:
        """The fault kind for the next request, or None."""
        if not self._active:
            return None
        draw = rng.random()
        for threshold, kind in self._thresholds:
            if draw < threshold:
                return kind
        return None
