"""Option checks shared by the runner and its bounds: each failure is a ConfigError naming
the option, raised before anything is sent."""

from __future__ import annotations

from typing import Any

from .errors import ConfigError

__all__ = ["check_int", "is_seconds"]


def check_int(name: str, value: Any, minimum: int | None) -> None:
    """A whole number (not a bool), at least ``minimum`` when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {value}")


def is_seconds(value: Any, allow_zero: bool = False) -> bool:
    """A positive (or, with ``allow_zero``, non-negative) number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return value >= 0 if allow_zero else value > 0
