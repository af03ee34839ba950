"""Connection failures: which recorded errors they are, and what a run does about them.

A *connect failure* is a request whose connection could not be opened, so the server never
saw it: the port refused it, the host is unreachable, the TLS handshake failed, no connection
came within the connect timeout, or this process is out of file descriptors (``EMFILE``). The
endpoints record it as an error like any other; its ``error_type`` is the exception's name,
which depends on the transport, and ``CONNECT_ERROR_TYPES`` lists them all (the one home of
this classification):

- the direct HTTP client (``endpoints/transport/pool.py``, OpenAI endpoints): ``ConnectError``,
  ``ConnectTimeout``, ``TLSError``;
- botocore (AWS endpoints, either transport): ``EndpointConnectionError``,
  ``ConnectTimeoutError``, ``SSLError``;
- aiohttp (``http_client: aiohttp``): ``ClientConnectorError`` and its TLS/DNS subclasses.

Such a failure can come back without the call ever yielding to the event loop (``EMFILE`` is
raised inside ``create_connection``), so a client that only retried would spin: the run's
timers, Ctrl-C and SIGTERM would never get a turn. The runner therefore yields after every
failed call, and two rules apply:

- **Back-off** (per client): a connect failure identical to the client's previous one (same
  error text) makes it wait before its next request, ``BACKOFF_FIRST_S`` doubling up to
  ``BACKOFF_MAX_S``. Each wait is counted (``connect_backoffs``, ``connect_backoff_s`` in
  stats.json) and the first wait for each distinct error is logged as a warning.
- **Endpoint unreachable** (per run): after ``limit`` connect failures in a row across all
  clients, with no other response in between, the run stops sending, cancels what is in
  flight, and is saved with ``stop_reason`` in stats.json: ``endpoint unreachable: N
  consecutive connection failures: <error>``. ``limit`` 0 never stops.
"""

from __future__ import annotations

import logging
from typing import Any

from .response import InvocationResponse

__all__ = [
    "CONNECT_ERROR_TYPES",
    "BACKOFF_FIRST_S",
    "BACKOFF_MAX_S",
    "DEFAULT_MAX_CONSECUTIVE",
    "is_connect_failure",
    "ClientBackoff",
    "ConnectFailures",
]

log = logging.getLogger(__name__)

CONNECT_ERROR_TYPES = frozenset(
    {
        # endpoints/transport/errors.py (the direct HTTP client)
        "ConnectError",
        "ConnectTimeout",
        "TLSError",
        # botocore, for the AWS endpoints (the direct transport translates to these too)
        "EndpointConnectionError",
        "ConnectTimeoutError",
        "SSLError",
        # aiohttp
        "ClientConnectorError",
        "ClientConnectorSSLError",
        "ClientConnectorCertificateError",
        "ClientConnectorDNSError",
    }
)

#: First wait after a repeated identical connect failure; it doubles with each repeat.
BACKOFF_FIRST_S = 0.001
#: Longest wait: short, so a client waiting never delays the end of a run by much.
BACKOFF_MAX_S = 0.1
#: Default of ``Runner(max_consecutive_connect_failures=)`` / ``load.max_consecutive_connect_failures``.
DEFAULT_MAX_CONSECUTIVE = 100

_MAX_WARNED = 20  # distinct error texts warned about per run (a bound on log lines)


def is_connect_failure(response: InvocationResponse) -> bool:
    """Whether ``response`` failed because its connection could not be opened."""
    return response.error_type in CONNECT_ERROR_TYPES


class ClientBackoff:
    """One client's run of identical connect failures, and the wait each repeat earns."""

    __slots__ = ("error", "repeats")

    def __init__(self) -> None:
        self.error: str | None = None
        self.repeats = 0

    def clear(self) -> None:
        """A call that did not fail to connect ends the run of failures."""
        self.error = None
        self.repeats = 0

    def delay(self, error: str | None) -> float:
        """Seconds to wait after a connect failure with text ``error`` (0 for a new one)."""
        if error is not None and error == self.error:
            self.repeats += 1
        else:
            self.error, self.repeats = error, 0
        if not self.repeats:
            return 0.0
        return min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2.0 ** (self.repeats - 1))


class ConnectFailures:
    """A run's count of connect failures in a row (all clients) and of back-off waits."""

    def __init__(self, limit: int = DEFAULT_MAX_CONSECUTIVE):
        self.limit = limit
        self.in_a_row = 0
        self.backoffs = 0
        self.backoff_s = 0.0
        self.stop_reason: str | None = None
        self._warned: set[str] = set()

    def succeeded(self, backoff: ClientBackoff) -> None:
        """A call of ``backoff``'s client got an answer: the failures in a row are over."""
        self.in_a_row = 0
        backoff.clear()

    def after_failure(self, response: InvocationResponse, backoff: ClientBackoff, stopping: bool) -> float:
        """Account one failed call of ``backoff``'s client; return the seconds it waits before
        its next request (0: it only yields). Sets ``stop_reason`` when this connect failure
        makes ``limit`` in a row. Nothing is counted once the run is ``stopping``."""
        if not is_connect_failure(response):
            self.succeeded(backoff)  # the server answered, if with an error
            return 0.0
        if stopping:
            return 0.0
        self.in_a_row += 1
        if self.limit and self.in_a_row >= self.limit:
            if self.stop_reason is None:
                self.stop_reason = (
                    f"endpoint unreachable: {self.in_a_row} consecutive connection failures: {response.error}"
                )
                if "Too many open files" in (response.error or ""):
                    self.stop_reason += (
                        " (this process is out of file descriptors: raise ulimit -n or use fewer clients)"
                    )
            return 0.0
        delay = backoff.delay(response.error)
        if delay:
            self._waited(delay, response.error)
        return delay

    def _waited(self, seconds: float, error: str | None) -> None:
        """Count one back-off wait; warn the first time an error makes clients wait."""
        self.backoffs += 1
        self.backoff_s += seconds
        text = error or ""
        if text not in self._warned and len(self._warned) < _MAX_WARNED:
            self._warned.add(text)
            log.warning(
                "connection failures repeat (%s): clients back off up to %g s between attempts "
                "(counted in stats.json connect_backoffs)",
                text,
                BACKOFF_MAX_S,
            )

    def stats(self) -> dict[str, Any]:
        """The stats.json keys: back-off counts when there were waits, the stop reason if any."""
        out: dict[str, Any] = {}
        if self.backoffs:
            out["connect_backoffs"] = self.backoffs
            out["connect_backoff_s"] = round(self.backoff_s, 6)
        if self.stop_reason is not None:
            out["stop_reason"] = self.stop_reason
        return out
