"""``InvocationResponse``: what one request to an endpoint measured.

Field names and units follow LLMeter (seconds for times, so responses.jsonl stays
compatible); ``error_type`` is added so failures can be counted by kind, and
``request_time`` keeps microseconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

from .clock import format_time, parse_time

__all__ = ["InvocationResponse", "INCOMPLETE", "TIMEOUT"]

#: error_type of a request still in flight when the run was cancelled or interrupted.
INCOMPLETE = "incomplete"
#: error_type of a request that exceeded the per-request timeout.
TIMEOUT = "timeout"


@dataclass(slots=True)
class InvocationResponse:
    """One request's outcome. ``error`` is ``None`` on success.

    Partial data (text, time to first token) is kept when a stream fails midway; such a
    response still counts as failed.
    """

    response_text: str | None = None
    input_payload: dict[str, Any] | None = None
    input_prompt: str | None = None
    id: str | None = None
    time_to_first_token: float | None = None
    time_to_last_token: float | None = None
    time_per_output_token: float | None = None
    num_tokens_input: int | None = None
    num_tokens_output: int | None = None
    num_tokens_input_cached: int | None = None
    num_tokens_output_reasoning: int | None = None
    error: str | None = None
    error_type: str | None = None
    retries: int | None = None
    request_time: datetime | None = None
    annotations: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None and self.error_type is None

    def to_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _FIELD_ORDER}
        out["request_time"] = format_time(self.request_time)
        return out

    def to_json(self) -> bytes:
        """One responses.jsonl line (without the newline). On the hot path: orjson writes the
        datetime itself (UTC, ``Z``; microseconds unless they are zero)."""
        return orjson.dumps(
            {name: getattr(self, name) for name in _FIELD_ORDER},
            default=_json_default,
            option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_UTC_Z,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "InvocationResponse":
        """Build from a responses.jsonl record; unknown keys are ignored (forward compatible).

        LLMeter 0.2.0 records have no ``error_type``: a recorded error becomes ``"unknown"``.
        """
        known = _FIELD_NAMES
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["request_time"] = parse_time(kwargs.get("request_time"))
        if kwargs.get("annotations") is None:
            kwargs["annotations"] = {}
        if kwargs.get("error") is not None and not kwargs.get("error_type"):
            kwargs["error_type"] = "unknown"
        return cls(**kwargs)


_FIELD_ORDER = tuple(f.name for f in fields(InvocationResponse))
_FIELD_NAMES = frozenset(_FIELD_ORDER)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
