"""Which earlier run(s) a nightly run is compared with: its baseline.

A suite's ``baseline:`` says how to choose, for each endpoint and load point:

- not set (``previous``): the most recent earlier run in the history with the same
  ``config_hash``: last night, unless the configuration changed since;
- ``{last: N}``: the median of the last N such runs (fewer when the history is shorter);
- a date ``YYYY-MM-DD``: the last run of that UTC day with the same ``config_hash``;
- a run or night folder URL (local path or ``s3://...``): the run in it with the same
  endpoint and load point (a run folder: that run). It must have the same ``config_hash``.

Only complete runs qualify: not interrupted, with at least one request and not every
request failed (a night the endpoint was down says nothing about its speed). Everything here
is pure over the history DataFrame except reading a pinned folder's run keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import fsspec
import orjson
import pandas as pd

from .errors import ConfigError
from .fingerprint import config_hash, read_fingerprint
from .samples import find_runs, load_point

__all__ = ["BaselinePolicy", "Baseline", "select_baseline", "run_key"]

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class BaselinePolicy:
    """``kind`` is ``previous``, ``last`` (``count``), ``date`` (``day``) or ``url`` (``url``)."""

    kind: str = "previous"
    count: int = 1
    day: date | None = None
    url: str | None = None

    @classmethod
    def parse(cls, value: Any, field_name: str = "baseline") -> "BaselinePolicy":
        """From a suite's ``baseline:`` value; a bad one is a ConfigError naming the field."""
        if value is None or value == "previous":
            return cls()
        if isinstance(value, dict):
            if set(value) != {"last"}:
                raise ConfigError(
                    field_name, f"expected {{last: N}}, a date YYYY-MM-DD or a run folder URL, got {value!r}"
                )
            count = value["last"]
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise ConfigError(f"{field_name}.last", f"must be a whole number >= 1, got {count!r}")
            return cls(kind="last", count=count)
        if isinstance(value, date):
            return cls(kind="date", day=value)
        if isinstance(value, str) and value.strip():
            text = value.strip()
            if _DATE.match(text):
                try:
                    return cls(kind="date", day=date.fromisoformat(text))
                except ValueError:
                    raise ConfigError(field_name, f"not a valid date: {text!r}") from None
            return cls(kind="url", url=text.rstrip("/"))
        raise ConfigError(field_name, f"expected {{last: N}}, a date YYYY-MM-DD or a run folder URL, got {value!r}")

    def describe(self) -> str:
        if self.kind == "last":
            return f"median of the last {self.count} runs with the same configuration"
        if self.kind == "date":
            return f"pinned: the run of {self.day.isoformat() if self.day else None}"
        if self.kind == "url":
            return f"pinned: {self.url}"
        return "the most recent earlier run with the same configuration"


@dataclass
class Baseline:
    """The chosen baseline run URLs (empty when there is none) and why."""

    urls: list[str] = field(default_factory=list)
    note: str = ""
    times: list[Any] = field(default_factory=list)


def run_key(url: str) -> tuple[str | None, int | None, float | None, str | None]:
    """``(endpoint, clients, rate, config_hash)`` of a run folder, read from its small files."""
    fs, root = fsspec.core.url_to_fs(url)
    root = root.rstrip("/")

    def read(name: str) -> dict[str, Any]:
        path = f"{root}/{name}"
        return orjson.loads(fs.cat_file(path)) if fs.exists(path) else {}

    summary = read("summary.json") or read("stats.json")
    run_config = read("run_config.json")
    clients, rate = load_point(run_config, summary)
    fp = read_fingerprint(url)
    endpoint = (
        summary.get("endpoint_name")
        or (run_config.get("endpoint") or {}).get("endpoint_name")
        or summary.get("model_id")
    )
    return endpoint, clients, rate, config_hash(fp) if fp is not None else None


def _same_point(frame: pd.DataFrame, clients: int | None, rate: float | None) -> pd.Series:
    clients_match = frame["clients"].isna() if clients is None else frame["clients"] == clients
    rate_match = frame["rate"].isna() if rate is None else frame["rate"] == rate
    return clients_match & rate_match


def select_baseline(
    history: pd.DataFrame,
    policy: BaselinePolicy,
    candidate: dict[str, Any],
    exclude_prefix: str | None = None,
) -> Baseline:
    """The baseline of ``candidate`` (a history row) under ``policy``.

    ``exclude_prefix`` drops rows under that URL (tonight's own folder).
    """
    endpoint, clients, rate = candidate.get("endpoint"), candidate.get("clients"), candidate.get("rate")
    wanted_hash = candidate.get("config_hash")
    if policy.kind == "url":
        return _pinned_folder(policy.url or "", endpoint, clients, rate, wanted_hash)
    if history.empty:
        return Baseline(note="no history yet: this is the first run of this configuration")
    rows = history[
        (history["endpoint"] == endpoint)
        & _same_point(history, clients, rate)
        & (history["config_hash"] == wanted_hash)
        & ~history["interrupted"].fillna(False).astype(bool)
        & (history["total_requests"].fillna(0) > 0)
        & (history["failed_requests"].fillna(0) < history["total_requests"].fillna(0))
    ]
    if exclude_prefix:
        prefix = exclude_prefix.rstrip("/") + "/"
        rows = rows[~rows["run_url"].str.startswith(prefix)]
    started = candidate.get("start_time")
    if started is not None:
        rows = rows[rows["start_time"] < pd.Timestamp(started)]
    rows = rows.sort_values("start_time", kind="stable")
    if policy.kind == "date":
        day = rows[rows["start_time"].dt.date == policy.day]
        if day.empty:
            pinned = policy.day.isoformat() if policy.day else None
            return Baseline(note=f"pinned baseline {pinned} has no run of this configuration")
        chosen = day.tail(1)
    elif policy.kind == "last":
        chosen = rows.tail(policy.count)
    else:
        chosen = rows.tail(1)
    if chosen.empty:
        return Baseline(note="no earlier run with the same configuration: nothing to compare with yet")
    note = policy.describe()
    if policy.kind == "last" and len(chosen) < policy.count:
        note = f"median of the {len(chosen)} earlier runs there are ({policy.count} asked)"
    return Baseline(urls=list(chosen["run_url"]), note=note, times=list(chosen["start_time"]))


def _pinned_folder(
    url: str, endpoint: str | None, clients: int | None, rate: float | None, wanted_hash: str | None
) -> Baseline:
    _, urls = find_runs(url)
    for run_url in urls:
        run_endpoint, run_clients, run_rate, run_hash = run_key(run_url)
        if run_endpoint == endpoint and run_clients == clients and run_rate == rate:
            if run_hash != wanted_hash:
                return Baseline(note=f"pinned baseline {run_url} has a different configuration: not compared")
            return Baseline(urls=[run_url], note=f"pinned: {run_url}")
    return Baseline(note=f"pinned baseline {url} has no run of this endpoint and load point")
