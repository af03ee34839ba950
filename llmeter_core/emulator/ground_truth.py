"""What the emulator actually served, for checking a benchmark's measurements against.

Counters (requests by API, faults by kind, tokens served) and one ``RequestTruth`` per
request, keyed by the request id the client sees (the OpenAI response ``id`` and
``x-request-id`` header, the AWS ``x-amzn-RequestId``). Records are bounded: the oldest are
dropped beyond ``max_records`` so a long benchmark keeps flat memory.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["RequestTruth", "GroundTruth"]


@dataclass(slots=True)
class RequestTruth:
    """One request as served. Times in ms from the handler's start.

    ``ttft_ms`` and ``itl_ms`` are what was scheduled (TTFT includes a slow-first-byte
    delay); ``first_token_ms``/``last_token_ms`` are when the server wrote the first
    and last generated tokens of any kind (None if never written; stamped just before the
    write, so no client can see a token earlier), ``first_content_ms`` the
    first answer token (later than the first token when reasoning streams first) and
    ``end_ms`` the end of the response (its last byte written), ``max_gap_ms`` the longest gap
    between two writes carrying tokens. ``reasoning_sent`` counts the streamed reasoning
    tokens (also in ``tokens_sent``). ``tokens_sent`` may be below ``output_tokens`` when a
    disconnect fault cut the stream. ``input_tokens`` is the whole prompt; ``cached_tokens``
    (read from the prompt cache) and ``cache_write_tokens`` (written to it) are parts of it.

    ``started_s`` is the handler's start on the emulator's clock (``latency.now``:
    ``time.monotonic``), so a run's span can be computed from the records. ``read_s``, on the
    same clock, is when the request was read off its connection (``read_stamps.py``):
    ``started_s - read_s`` is how long it waited for its handler, and the server's time to
    first token counted from the request's arrival, as real servers count it, is
    ``first_token_ms + (started_s - read_s) * 1000``.
    ``queue_ms`` is how long the request waited for a serving slot (the ``max_concurrency``
    capacity model) before its handler started.
    """

    request_id: str
    api: str
    stream: bool
    input_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    output_tokens: int
    ttft_ms: float
    itl_ms: float
    fault: str | None = None
    finish_reason: str | None = None
    tokens_sent: int = 0
    first_token_ms: float | None = None
    last_token_ms: float | None = None
    completed: bool = False
    queue_ms: float = 0.0
    first_content_ms: float | None = None
    end_ms: float | None = None
    reasoning_sent: int = 0
    max_gap_ms: float = 0.0
    started_s: float = 0.0
    read_s: float = 0.0

    @property
    def uncached_input_tokens(self) -> int:
        """The prompt less the tokens read from or written to the cache: Bedrock's input count."""
        return self.input_tokens - self.cached_tokens - self.cache_write_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GroundTruth:
    """Counters and per-request records of one emulator. Single event loop: no locking."""

    def __init__(self, max_records: int = 100_000):
        self.max_records = max_records
        self.reset()

    def reset(self) -> None:
        """Forget everything (``POST /emulator/reset``)."""
        self.requests_by_api: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.completed = 0
        self.client_aborted = 0
        self.output_tokens_sent = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.queued = 0
        self.records: OrderedDict[str, RequestTruth] = OrderedDict()

    def begin(self, truth: RequestTruth) -> RequestTruth:
        """Count a request as received and keep its record."""
        self.requests_by_api[truth.api] += 1
        if truth.fault is not None:
            self.faults[truth.fault] += 1
        if self.max_records:
            records = self.records
            records[truth.request_id] = truth
            if len(records) > self.max_records:
                records.popitem(last=False)
        return truth

    def finish(self, truth: RequestTruth) -> None:
        """Count a request whose response was sent in full."""
        truth.completed = True
        self.completed += 1
        self.output_tokens_sent += truth.tokens_sent

    def arrive(self) -> None:
        """A request reached an API route (before any capacity queue)."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        """A request's handler returned (served, failed or abandoned by its client)."""
        self.in_flight -= 1

    def get(self, request_id: str) -> RequestTruth | None:
        return self.records.get(request_id)

    def stats(self) -> dict[str, Any]:
        """The JSON served by ``GET /emulator/stats``."""
        return {
            "requests": sum(self.requests_by_api.values()),
            "requests_by_api": dict(self.requests_by_api),
            "completed": self.completed,
            "faults": dict(self.faults),
            "faults_total": sum(self.faults.values()),
            "client_aborted": self.client_aborted,
            "output_tokens_sent": self.output_tokens_sent,
            "records_kept": len(self.records),
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "queued": self.queued,
        }
