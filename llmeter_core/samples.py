"""A run's per-request samples, as a comparison needs them, and the runs inside a folder.

``RunSamples.load(url)`` streams ``responses.jsonl`` once through the same ``RunningStats``
that wrote ``stats.json`` (so the point values a comparison shows are the run's own stats)
and keeps only what a bootstrap needs: the sorted successful values of each latency metric,
the send times and the output tokens per request. Payloads and response texts are dropped
line by line, so a 100k-request run costs a few MB, not the whole file. A torn last line
(a crash mid-write) is skipped: what is intact still loads.

``find_runs(url)`` tells a run folder from a sweep (or night) folder: a run folder holds
``stats.json`` or ``responses.jsonl``; a sweep folder holds run folders one level down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

import fsspec
import numpy as np
import orjson

from .clock import parse_time
from .errors import ConfigError
from .fingerprint import config_hash, read_fingerprint
from .response import InvocationResponse
from .stats import RunningStats

__all__ = ["LATENCY_METRICS", "RunSamples", "find_runs", "is_run_folder", "load_point", "describe_point"]

#: Per-request latency metrics compared by their percentiles (seconds).
LATENCY_METRICS: tuple[str, ...] = ("time_to_first_token", "time_to_last_token", "time_per_output_token")

_RUN_MARKERS = ("stats.json", "responses.jsonl")


def _read_json(fs: Any, path: str) -> dict[str, Any]:
    try:
        return orjson.loads(fs.cat_file(path)) if fs.exists(path) else {}
    except orjson.JSONDecodeError:
        return {}


def describe_point(clients: int | None, rate: float | None) -> str:
    """``8 clients``, ``1 client`` or ``2.5 req/s``: how a load point reads in reports."""
    if rate is not None:
        return f"{rate:g} req/s"
    return f"{clients} client" + ("" if clients == 1 else "s")


def load_point(run_config: dict[str, Any], summary: dict[str, Any]) -> tuple[int | None, float | None]:
    """``(clients, rate)`` of a run: closed-loop clients, and an arrival rate when the run
    had one (``rate`` in run_config.json, requests per second)."""
    clients = summary.get("clients", run_config.get("clients"))
    rate = run_config.get("rate")
    return (
        int(clients) if isinstance(clients, (int, float)) else None,
        float(rate) if isinstance(rate, (int, float)) and not isinstance(rate, bool) else None,
    )


@dataclass
class RunSamples:
    """One run, reduced to its point stats and the samples behind them."""

    url: str | None
    endpoint: str | None = None
    model_id: str | None = None
    clients: int | None = None
    rate: float | None = None
    start_time: datetime | None = None
    interrupted: bool = False
    stats: dict[str, Any] = field(default_factory=dict)
    values: dict[str, np.ndarray] = field(default_factory=dict)
    send_times: np.ndarray = field(default_factory=lambda: np.empty(0))
    output_tokens: np.ndarray = field(default_factory=lambda: np.empty(0))
    has_samples: bool = False
    fingerprint: dict[str, Any] | None = None
    config_hash: str | None = None

    @property
    def total(self) -> int:
        return int(self.stats.get("total_requests") or 0)

    @property
    def failed(self) -> int:
        return int(self.stats.get("failed_requests") or 0)

    @property
    def errors(self) -> dict[str, int]:
        return dict(self.stats.get("errors") or {})

    @property
    def key(self) -> tuple[str | None, int | None, float | None]:
        """What a run is matched on across two sweeps: endpoint label and load point."""
        return (self.endpoint, self.clients, self.rate)

    def describe(self) -> str:
        """``model-a at 8 clients`` (or ``at 2.0 req/s``)."""
        return f"{self.endpoint} at {describe_point(self.clients, self.rate)}"

    @classmethod
    def from_responses(
        cls,
        responses: Iterable[InvocationResponse],
        end_time: datetime | None = None,
        **fields_: Any,
    ) -> "RunSamples":
        """Samples from responses in memory (tests, or a run just finished)."""
        running = RunningStats()
        times: list[float] = []
        tokens: list[float] = []
        for response in responses:
            running.update(response)
            _note(response, times, tokens)
        return cls._build(running, times, tokens, end_time, **fields_)

    @classmethod
    def _build(
        cls, running: RunningStats, times: list[float], tokens: list[float], end_time: datetime | None, **fields_: Any
    ) -> "RunSamples":
        samples = cls(**fields_)
        samples.stats = running.to_stats(end_time)
        samples.values = {m: np.sort(running.metric_values(m)) for m in LATENCY_METRICS}
        order = np.argsort(np.asarray(times, dtype=float), kind="stable")
        samples.send_times = np.asarray(times, dtype=float)[order]
        samples.output_tokens = np.asarray(tokens, dtype=float)[order]
        samples.has_samples = True
        return samples

    @classmethod
    def load(cls, url: str) -> "RunSamples":
        """Load a run folder (local or any fsspec URL); raises ConfigError if it is none."""
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        if not is_run_folder(fs, root):
            raise ConfigError("run", f"{url} is not a run folder (no stats.json or responses.jsonl)")
        summary = _read_json(fs, f"{root}/summary.json")
        stored = _read_json(fs, f"{root}/stats.json")
        summary = summary or stored
        run_config = _read_json(fs, f"{root}/run_config.json")
        endpoint_config = run_config.get("endpoint") or {}
        clients, rate = load_point(run_config, summary)
        fp = read_fingerprint(url)
        fields_: dict[str, Any] = dict(
            url=url.rstrip("/"),
            endpoint=summary.get("endpoint_name") or endpoint_config.get("endpoint_name") or summary.get("model_id"),
            model_id=summary.get("model_id") or endpoint_config.get("model_id"),
            clients=clients,
            rate=rate,
            start_time=parse_time(summary.get("start_time")),
            interrupted=bool(summary.get("interrupted") or stored.get("interrupted")),
            fingerprint=fp,
            config_hash=config_hash(fp) if fp is not None else None,
        )
        responses_path = f"{root}/responses.jsonl"
        if not fs.exists(responses_path):
            return cls(stats=stored, **fields_)
        running = RunningStats()
        times: list[float] = []
        tokens: list[float] = []
        with fs.open(responses_path, "rb") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    response = InvocationResponse.from_dict(orjson.loads(line))
                except (orjson.JSONDecodeError, TypeError, ValueError):
                    continue  # a torn line: keep what is intact
                response.input_payload = response.response_text = response.input_prompt = None
                running.update(response)
                _note(response, times, tokens)
        samples = cls._build(running, times, tokens, parse_time(summary.get("end_time")), **fields_)
        for key, value in stored.items():  # keys contributed by callbacks (goodput, ...)
            samples.stats.setdefault(key, value)
        return samples


def _note(response: InvocationResponse, times: list[float], tokens: list[float]) -> None:
    if response.request_time is None:
        return
    times.append(response.request_time.timestamp())
    tokens.append(float(response.num_tokens_output or 0) if response.ok else 0.0)


def is_run_folder(fs: Any, root: str) -> bool:
    return any(fs.exists(f"{root}/{marker}") for marker in _RUN_MARKERS)


def find_runs(url: str) -> tuple[str, list[str]]:
    """``("run", [url])`` for a run folder, ``("sweep", [run urls...])`` for a folder of runs.

    Raises ConfigError naming the URL when it is neither (missing, empty, unreachable).
    """
    try:
        fs, root = fsspec.core.url_to_fs(url)
        root = root.rstrip("/")
        fs.invalidate_cache(root)  # listings are cached per process; the folder may be new
        if is_run_folder(fs, root):
            return "run", [url.rstrip("/")]
        if not fs.isdir(root):
            raise ConfigError("folder", f"{url}: no such folder")
        found: set[str] = set()
        for marker in _RUN_MARKERS:
            for path in fs.glob(f"{root}/*/{marker}"):
                found.add(path.rsplit("/", 2)[-2])
    except ConfigError:
        raise
    except Exception as exc:  # unreachable store, bad URL
        raise ConfigError("folder", f"cannot read {url}: {exc}") from exc
    if not found:
        raise ConfigError("folder", f"{url} holds no run folders (no */stats.json or */responses.jsonl)")
    base = url.rstrip("/")
    return "sweep", [f"{base}/{name}" for name in sorted(found)]
