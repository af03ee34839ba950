"""``Result``: a finished (or interrupted) run, saved as a run folder and loaded back.

Run folder ``<output_path>/<run_name>/`` (LLMeter's layout):

- ``run_config.json``: how the run was configured (never secrets),
- ``payload.jsonl``: the payloads it drew from,
- ``responses.jsonl``: one ``InvocationResponse`` a line, appended as the run goes,
- ``summary.json``: the Result fields below,
- ``stats.json``: summary fields + aggregate stats (see ``stats.py``), written last.

``Result.load`` reads folders written by this package and by LLMeter 0.2.0.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import fsspec
import orjson

from .clock import format_time, parse_time
from .response import InvocationResponse
from .stats import RunningStats
from .storage import join_url

__all__ = ["Result"]

_TIME_FIELDS = ("start_time", "first_request_time", "last_request_time", "end_time")


@dataclass
class Result:
    """What a run measured. ``n_requests`` is per client (as LLMeter)."""

    responses: list[InvocationResponse] = field(default_factory=list, repr=False)
    total_requests: int | None = None
    clients: int | None = None
    n_requests: int | None = None
    run_duration: float | None = None
    total_test_time: float | None = None
    model_id: str | None = None
    output_path: str | None = None
    endpoint_name: str | None = None
    provider: str | None = None
    run_name: str | None = None
    run_description: str | None = None
    start_time: datetime | None = None
    first_request_time: datetime | None = None
    last_request_time: datetime | None = None
    end_time: datetime | None = None
    interrupted: bool = False
    _stats: dict[str, Any] | None = field(default=None, repr=False)

    # -- stats ----------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        """Summary fields + aggregate stats (the contents of stats.json)."""
        if self._stats is None:
            self._stats = self.compute_stats(RunningStats.from_responses(self.responses))
        return self._stats

    def compute_stats(self, running: RunningStats, contributed: dict[str, Any] | None = None) -> dict[str, Any]:
        """stats.json for this result from a RunningStats (the one formula everywhere)."""
        stats = self.summary()
        stats.update(running.to_stats(self.end_time))
        if self.interrupted:
            stats["interrupted"] = True
        for key, value in (contributed or {}).items():
            stats.setdefault(key, value)
        self._stats = stats
        return stats

    def summary(self) -> dict[str, Any]:
        """summary.json: every field but the responses, times as ISO strings."""
        out: dict[str, Any] = {}
        for f in fields(self):
            if f.name in ("responses", "_stats"):
                continue
            value = getattr(self, f.name)
            out[f.name] = format_time(value) if f.name in _TIME_FIELDS else value
        return out

    # -- persistence ------------------------------------------------------------------
    @classmethod
    def load(cls, url: str, load_responses: bool = True) -> "Result":
        """Load a run folder (local path or any fsspec URL).

        With ``load_responses`` the stats are recomputed from responses.jsonl with the same
        code that produced them during the run (so they match stats.json), and keys that
        callbacks contributed to stats.json are kept. Without it, stats.json is used as is.
        """
        fs, root = fsspec.core.url_to_fs(url)
        summary = _read_json(fs, f"{root}/summary.json")
        stored_stats = _read_json(fs, f"{root}/stats.json") if fs.exists(f"{root}/stats.json") else {}
        if not summary:
            summary = {k: v for k, v in stored_stats.items() if k in _RESULT_FIELDS}
        kwargs = {k: v for k, v in summary.items() if k in _RESULT_FIELDS}
        for name in _TIME_FIELDS:
            kwargs[name] = parse_time(kwargs.get(name))
        result = cls(**kwargs)
        if result.output_path is None:
            result.output_path = url
        if not load_responses:
            result._stats = stored_stats or None
            return result
        responses_path = f"{root}/responses.jsonl"
        if fs.exists(responses_path):
            with fs.open(responses_path, "rb") as handle:
                result.responses = [InvocationResponse.from_dict(orjson.loads(line)) for line in handle if line.strip()]
        running = RunningStats.from_responses(result.responses)
        computed = result.compute_stats(running)
        extra = {k: v for k, v in stored_stats.items() if k not in computed}
        computed.update(extra)
        return result

    def to_dataframe(self):  # pandas is imported only when asked for
        """The responses as a pandas DataFrame, one row per request."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.responses])

    @property
    def stats_url(self) -> str | None:
        return join_url(self.output_path, "stats.json") if self.output_path else None


_RESULT_FIELDS = frozenset(f.name for f in fields(Result)) - {"responses", "_stats"}


def _read_json(fs: Any, path: str) -> dict[str, Any]:
    if not fs.exists(path):
        return {}
    with fs.open(path, "rb") as handle:
        return orjson.loads(handle.read())
