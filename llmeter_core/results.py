"""``Result``: a finished (or interrupted) run, saved as a run folder and loaded back.

Run folder ``<output_path>/<run_name>/`` (LLMeter's layout):

- ``run_config.json``: how the run was configured (never secrets),
- ``payload.jsonl``: the payloads it drew from,
- ``responses.jsonl``: one ``InvocationResponse`` a line, appended as the run goes,
- ``summary.json``: LLMeter 0.2.0's Result fields exactly (``SUMMARY_FIELDS``): its
  ``Result.load`` passes every key of summary.json to its dataclass, so one key more
  (``run_duration``, ``interrupted``) would make it fail,
- ``stats.json``: every Result field (ours included) + aggregate stats (see ``stats.py``),
  written last.

``Result.load`` reads folders written by this package and by LLMeter 0.2.0, and damaged ones
(see ``load``); LLMeter 0.2.0 reads the folders this package writes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

import fsspec
import orjson

from .clock import format_time, parse_time
from .response import InvocationResponse
from .stats import RunningStats
from .storage import join_url

__all__ = ["Result", "SUMMARY_FIELDS"]

log = logging.getLogger(__name__)

_TIME_FIELDS = ("start_time", "first_request_time", "last_request_time", "end_time")
#: The keys of summary.json: LLMeter 0.2.0's Result fields, in its order.
SUMMARY_FIELDS = (
    "total_requests",
    "clients",
    "n_requests",
    "total_test_time",
    "model_id",
    "output_path",
    "endpoint_name",
    "provider",
    "run_name",
    "run_description",
    "start_time",
    "first_request_time",
    "last_request_time",
    "end_time",
)
_MAX_LINE_NOTES = 5  # damaged responses.jsonl lines named one by one; the rest are summed up


@dataclass
class Result:
    """What a run measured. ``n_requests`` is per client (as LLMeter).

    ``load_warnings`` lists what ``Result.load`` had to work around (damaged lines, missing
    files, stored stats kept rather than recomputed); each one is also logged.
    """

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
    load_warnings: list[str] = field(default_factory=list, repr=False)
    _stats: dict[str, Any] | None = field(default=None, repr=False)

    # -- stats ----------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, Any]:
        """Every Result field + aggregate stats (the contents of stats.json)."""
        if self._stats is None:
            self._stats = self.compute_stats(RunningStats.from_responses(self.responses))
        return self._stats

    def compute_stats(self, running: RunningStats, contributed: dict[str, Any] | None = None) -> dict[str, Any]:
        """stats.json for this result from a RunningStats (the one formula everywhere)."""
        stats = self.field_values()
        stats.update(running.to_stats(self.end_time))
        for key, value in (contributed or {}).items():
            stats.setdefault(key, value)
        self._stats = stats
        return stats

    def field_values(self) -> dict[str, Any]:
        """Every field but the responses, times as ISO strings."""
        out: dict[str, Any] = {}
        for name in _RESULT_FIELDS:
            value = getattr(self, name)
            out[name] = format_time(value) if name in _TIME_FIELDS else value
        return out

    def summary(self) -> dict[str, Any]:
        """summary.json: the fields LLMeter 0.2.0's Result has (``SUMMARY_FIELDS``)."""
        every = self.field_values()
        return {name: every[name] for name in SUMMARY_FIELDS}

    # -- persistence ------------------------------------------------------------------
    @classmethod
    def load(cls, url: str, load_responses: bool = True) -> "Result":
        """Load a run folder (local path or any fsspec URL).

        With ``load_responses`` the stats are recomputed from responses.jsonl with the same
        code that produced them during the run (so they match stats.json), and keys that
        callbacks contributed to stats.json are kept. Without it, stats.json is used as is.
        The two never disagree silently:

        - stats.json is kept as stored (and a warning says why) when recomputing would give
          wrong numbers: the timestamps have whole-second precision (LLMeter 0.2.0), or
          responses.jsonl does not hold every request stats.json counts (damaged lines, a
          write error);
        - any other difference between recomputed and stored stats is a warning.

        Damaged folders load what is intact: a torn or garbage line of responses.jsonl is
        skipped with a warning naming the file, line and bytes dropped; a folder without
        summary.json and stats.json (a killed run) takes its metadata from run_config.json,
        its stats from the responses there, and is marked ``interrupted``.
        """
        fs, root = fsspec.core.url_to_fs(url)
        notes: list[str] = []
        summary = _read_json(fs, root, "summary.json", notes)
        stored = _read_json(fs, root, "stats.json", notes)
        config = _read_json(fs, root, "run_config.json", notes)
        responses_path = f"{root}/responses.jsonl"
        has_responses = fs.exists(responses_path)
        if summary is None and stored is None and config is None and not has_responses:
            raise FileNotFoundError(
                f"{url} is not a run folder: no summary.json, stats.json, run_config.json or responses.jsonl"
            )
        finished = summary is not None or stored is not None
        known = {**_from_run_config(config), **(stored or {}), **(summary or {})}  # summary.json wins
        kwargs = {k: v for k, v in known.items() if k in _RESULT_FIELDS}
        for name in _TIME_FIELDS:
            kwargs[name] = parse_time(kwargs.get(name))
        result = cls(**kwargs)
        if result.output_path is None:
            result.output_path = url

        responses: list[InvocationResponse] = []
        damaged = 0
        if has_responses and (load_responses or stored is None):
            responses, damaged = _read_responses(fs, responses_path, notes)
        running = RunningStats.from_responses(responses)
        if not finished:
            result.interrupted = True
            _recover_times(result, running, responses)
            notes.append(
                f"{url} has no summary.json or stats.json (the run was killed?): loaded as interrupted, "
                f"metadata from run_config.json, stats from the {len(responses)} responses in responses.jsonl"
            )

        if stored is not None and not load_responses:
            result._stats = stored
        elif stored is not None and (why := _keep_stored_because(stored, responses, damaged)):
            result._stats = stored
            notes.append(f"stats.json kept as stored, not recomputed from responses.jsonl: {why}")
        else:
            computed = result.compute_stats(running)
            if stored:
                differing = _differences(computed, stored)
                computed.update({k: v for k, v in stored.items() if k not in computed})
                if differing:
                    notes.append(
                        f"stats recomputed from responses.jsonl differ from stats.json: {differing}; "
                        "Result.load(..., load_responses=False) gives the stored values"
                    )
        if load_responses:
            result.responses = responses
        result.load_warnings = notes
        for note in notes:
            log.warning("%s", note)
        return result

    def to_dataframe(self):  # pandas is imported only when asked for
        """The responses as a pandas DataFrame, one row per request."""
        import pandas as pd

        return pd.DataFrame([r.to_dict() for r in self.responses])

    def get_dimension(self, name: str, filter_dimension: str | None = None, filter_value: Any = None) -> list[Any]:
        """One value per response (LLMeter's ``Result.get_dimension``): a response field
        (``time_to_first_token``, ``num_tokens_output``...) or an annotation
        (``asked_output_tokens``, ``cost``...), ``None`` where a response lacks it. With
        ``filter_dimension``, only the responses whose value of it equals ``filter_value``
        (``filter_dimension="error_type", filter_value=None``: the successful ones)."""
        for dimension in (name, filter_dimension):
            if (
                dimension is not None
                and dimension not in _RESPONSE_FIELDS
                and not any(dimension in r.annotations for r in self.responses)
            ):
                raise KeyError(
                    f"{dimension!r} is neither a response field ({', '.join(sorted(_RESPONSE_FIELDS))}) "
                    "nor an annotation of any response"
                )
        responses = self.responses
        if filter_dimension is not None:
            responses = [r for r in responses if _dimension(r, filter_dimension) == filter_value]
        return [_dimension(r, name) for r in responses]

    @property
    def stats_url(self) -> str | None:
        return join_url(self.output_path, "stats.json") if self.output_path else None


_RESULT_FIELDS = tuple(f.name for f in fields(Result) if f.name not in ("responses", "load_warnings", "_stats"))
_RESPONSE_FIELDS = frozenset(f.name for f in fields(InvocationResponse)) - {"annotations"}


def _dimension(response: InvocationResponse, name: str) -> Any:
    if name in _RESPONSE_FIELDS:
        return getattr(response, name)
    return response.annotations.get(name)


def _read_json(fs: Any, root: str, name: str, notes: list[str]) -> dict[str, Any] | None:
    """A JSON object file of the folder, or None when it is missing or damaged (noted)."""
    path = f"{root}/{name}"
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as handle:
        body = handle.read()
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        notes.append(f"{path} is damaged ({len(body)} bytes, {exc}): ignored")
        return None
    if not isinstance(data, dict):
        notes.append(f"{path} does not hold a JSON object: ignored")
        return None
    return data


def _read_responses(fs: Any, path: str, notes: list[str]) -> tuple[list[InvocationResponse], int]:
    """Every intact line of responses.jsonl; damaged lines (torn, not JSON, not a response)
    are skipped and noted. Returns the responses and the number of damaged lines."""
    responses: list[InvocationResponse] = []
    damaged: list[tuple[int, int]] = []  # (line number, bytes)
    with fs.open(path, "rb") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                responses.append(InvocationResponse.from_dict(orjson.loads(line)))
            except (ValueError, TypeError, AttributeError):  # torn JSON, garbage, a non-object
                damaged.append((number, len(line)))
    for number, size in damaged[:_MAX_LINE_NOTES]:
        notes.append(f"{path} line {number} is damaged (torn or not a response): skipped, {size} bytes dropped")
    if len(damaged) > _MAX_LINE_NOTES:
        rest = damaged[_MAX_LINE_NOTES:]
        notes.append(
            f"{path}: {len(rest)} more damaged lines skipped (lines {rest[0][0]}-{rest[-1][0]}, "
            f"{sum(size for _, size in rest)} bytes dropped)"
        )
    return responses, len(damaged)


def _from_run_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """Result fields that run_config.json knows (ours, or LLMeter's nested endpoint state)."""
    if not config:
        return {}
    out = {
        k: config[k]
        for k in ("run_name", "run_description", "clients", "n_requests", "run_duration", "output_path")
        if config.get(k) is not None
    }
    endpoint = config.get("endpoint")
    if isinstance(endpoint, dict):
        state = endpoint.get("__llmeter_state__", endpoint)
        if isinstance(state, dict):
            out.update({k: state[k] for k in ("model_id", "endpoint_name", "provider") if state.get(k) is not None})
    return out


def _recover_times(result: Result, running: RunningStats, responses: list[InvocationResponse]) -> None:
    """Times and counts of a run that never wrote its summary, from its responses."""
    result.total_requests = running.total_requests
    result.first_request_time = running.first_request_time
    result.last_request_time = running.last_request_time
    result.start_time = result.start_time or running.first_request_time
    ends = [
        r.request_time + timedelta(seconds=r.time_to_last_token or r.time_to_first_token or 0.0)
        for r in responses
        if r.request_time is not None
    ]
    result.end_time = max(ends) if ends else None
    if result.start_time is not None and result.end_time is not None:
        result.total_test_time = (result.end_time - result.start_time).total_seconds()


def _keep_stored_because(stored: dict[str, Any], responses: list[InvocationResponse], damaged: int) -> str | None:
    """Why stats recomputed from these responses would be wrong, or None when they are right."""
    unwritten = stored.get("responses_not_written")
    if unwritten:
        return f"{unwritten} responses it counts were never written to responses.jsonl (a write error stopped the run)"
    counted = stored.get("total_requests")
    if isinstance(counted, int) and counted != len(responses):
        skipped = f", {damaged} damaged lines skipped" if damaged else ""
        return f"it counts {counted} requests, responses.jsonl holds {len(responses)} intact ones{skipped}"
    times = [r.request_time for r in responses if r.request_time is not None]
    if len(times) > 1 and all(t.microsecond == 0 for t in times):  # ours have microseconds (1e-6 chance each)
        return (
            "request_time has whole-second precision (as LLMeter 0.2.0 writes it), so rates recomputed "
            "from it (requests_per_minute, output_tps...) would be wrong"
        )
    return None


def _differences(computed: dict[str, Any], stored: dict[str, Any], shown: int = 5) -> str:
    """The aggregate stats that differ between recomputed and stored stats.json, for a warning."""
    keys = [k for k in computed if k in stored and k not in _RESULT_FIELDS and not _same(computed[k], stored[k])]
    listed = ", ".join(f"{k} ({computed[k]!r} recomputed, {stored[k]!r} stored)" for k in keys[:shown])
    return listed + (f" and {len(keys) - shown} more" if len(keys) > shown else "")


def _same(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return a == b
