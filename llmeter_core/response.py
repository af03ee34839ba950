"""``InvocationResponse``: what one request to an endpoint measured.

Field names and units follow LLMeter (seconds for times, so responses.jsonl stays
compatible); ``error_type`` is added so failures can be counted by kind, and
``request_time`` keeps microseconds.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import orjson

from .clock import format_time, parse_time

__all__ = ["InvocationResponse", "INCOMPLETE", "UNSENT", "TIMEOUT", "SCHEDULE_FIELDS", "USAGE", "STREAM", "TOKENIZER"]

#: error_type of a request still in flight when the run was cancelled or interrupted.
INCOMPLETE = "incomplete"
#: error_type of a send cancelled before a byte of it was written (``SendCancelled``): the
#: runner counts it in ``unsent_requests`` and never records it as a request.
UNSENT = "unsent"
#: error_type of a request that exceeded the per-request timeout.
TIMEOUT = "timeout"
#: ``num_tokens_*_source`` values: the API's usage, the stream's own chunks, the tokenizer.
USAGE, STREAM, TOKENIZER = "usage", "stream", "tokenizer"


@dataclass(slots=True)
class InvocationResponse:
    """One request's outcome. ``error`` is ``None`` on success.

    Partial data (text, time to first token) is kept when a stream fails midway; such a
    response still counts as failed.

    ``time_to_first_token`` is the first generated token of any kind (a streamed reasoning
    token counts), ``time_to_first_content_token`` the first visible answer token,
    ``time_to_last_token`` the last generated token and ``time_to_end`` the last byte of the
    response (the end of the stream, usage and terminator included). ``time_per_output_token``
    and ``inter_token_latency`` are the first-to-last token span divided by the gaps between
    the tokens streamed in it (hidden reasoning tokens, which never stream, are not counted),
    ``max_inter_token_latency`` the longest gap between two network reads carrying output.
    ``num_tokens_input_source`` / ``num_tokens_output_source`` say where a count came from:
    ``usage`` (the API's own), ``stream`` (output tokens counted as the streamed content
    and reasoning chunks, for a stream without usage) or ``tokenizer`` (an estimate).

    The schedule fields are set in open-loop runs only (and only then written to
    responses.jsonl): ``scheduled_time`` is when the schedule said to send, ``dispatch_delay``
    how late the request actually left (seconds, a client queue
    included), and the ``*_from_schedule`` latencies are measured from the scheduled time,
    as the user behind the schedule saw them. ``slo_met`` is set when the run has an SLO
    (``slo.py``): whether this request met every limit.
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
    inter_token_latency: float | None = None
    max_inter_token_latency: float | None = None
    time_to_first_content_token: float | None = None
    time_to_end: float | None = None
    num_tokens_input_source: str | None = None
    num_tokens_output_source: str | None = None
    scheduled_time: datetime | None = None
    dispatch_delay: float | None = None
    time_to_first_token_from_schedule: float | None = None
    time_to_last_token_from_schedule: float | None = None
    slo_met: bool | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.error_type is None

    def to_dict(self) -> dict[str, Any]:
        names = _NAMES[self.scheduled_time is not None, self.slo_met is not None]
        out = {name: getattr(self, name) for name in names}
        out["request_time"] = format_time(self.request_time)
        if self.scheduled_time is not None:
            out["scheduled_time"] = format_time(self.scheduled_time)
        return out

    def to_json(self) -> bytes:
        """One responses.jsonl line (without the newline). On the hot path: orjson writes the
        datetime itself (UTC, ``Z``; microseconds unless they are zero)."""
        names, values = _LINES[self.scheduled_time is not None, self.slo_met is not None]
        return orjson.dumps(
            dict(zip(names, values(self), strict=True)),
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
        kwargs["scheduled_time"] = parse_time(kwargs.get("scheduled_time"))
        if kwargs.get("annotations") is None:
            kwargs["annotations"] = {}
        if kwargs.get("error") is not None and not kwargs.get("error_type"):
            kwargs["error_type"] = "unknown"
        return cls(**kwargs)


_FIELD_ORDER = tuple(f.name for f in fields(InvocationResponse))
_FIELD_NAMES = frozenset(_FIELD_ORDER)
#: Fields of an open-loop send; a closed-loop response's jsonl line leaves them out.
SCHEDULE_FIELDS = (
    "scheduled_time",
    "dispatch_delay",
    "time_to_first_token_from_schedule",
    "time_to_last_token_from_schedule",
)
_UNSCHEDULED = tuple(name for name in _FIELD_ORDER if name not in SCHEDULE_FIELDS)
#: The fields of a jsonl line by (scheduled, judged against an SLO): a run without an SLO has
#: no ``slo_met`` key, a closed-loop one no schedule fields.
_NAMES = {
    (True, True): _FIELD_ORDER,
    (True, False): tuple(n for n in _FIELD_ORDER if n != "slo_met"),
    (False, True): _UNSCHEDULED,
    (False, False): tuple(n for n in _UNSCHEDULED if n != "slo_met"),
}
#: Each key's names with a getter of their values in one C call (a jsonl line per response).
_LINES = {key: (names, operator.attrgetter(*names)) for key, names in _NAMES.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)
