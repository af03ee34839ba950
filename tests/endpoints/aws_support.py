"""Helpers of the AWS endpoint tests (their fixtures are in the conftest.py files): framed
eventstream messages, the dummy secret key of ``aws_env`` and a check against the emulator's
ground truth."""

from __future__ import annotations

from llmeter_core.emulator.eventstream import encode_message, event_headers, exception_headers
from tests.timing import LoopLag

__all__ = ["event", "exception_event", "assert_matches_truth", "SECRET_KEY"]

SECRET_KEY = "dummy-secret-key-never-written-9f3b"


def event(event_type: str, payload: bytes, content_type: str = "application/json") -> bytes:
    """One framed eventstream ``event`` message."""
    return encode_message(event_headers(event_type, content_type), payload)


def exception_event(exception_type: str, payload: bytes) -> bytes:
    return encode_message(exception_headers(exception_type), payload)


def assert_matches_truth(out, emu, lag: LoopLag | None = None, tolerance_ms: float = 25.0) -> None:
    """The client's times are the server's own record of when it wrote the first and last
    token, plus a little (network, parsing): never less, and at most ``tolerance_ms`` more, plus
    the lateness of the event loop measured while the request ran (``lag``). Comparing with the
    server's record, not the configured latency, keeps the check exact on a busy machine where
    the emulator itself runs late."""
    if lag is not None:
        tolerance_ms += lag.worst_ms
    truth = emu.state.truth.get(out.id)
    assert truth is not None, f"no ground truth for request id {out.id}"
    if out.time_to_first_token is not None:
        error_ms = out.time_to_first_token * 1000 - truth.first_token_ms
        assert 0 <= error_ms < tolerance_ms, (out.time_to_first_token, truth)
    error_ms = out.time_to_last_token * 1000 - truth.last_token_ms
    assert 0 <= error_ms < tolerance_ms, (out.time_to_last_token, truth)
