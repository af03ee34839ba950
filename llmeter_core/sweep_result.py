"""``SweepResult``: a whole sweep loaded back in Python, as LLMeter's ``LoadTestResult.load``.

A sweep folder holds one run folder per client count (this project's
``<sweep>/<date-time>/<run_name>/``, or LLMeter's ``<test>/<NNNNN>-clients/``), each with its
stats.json. ``SweepResult.load(folder)`` finds every run folder directly under ``folder``
(those with a stats.json, summary.json or run_config.json), reads each one's stats as
stored (``Result.load(..., load_responses=False)``: cheap however long the runs were) and
builds a DataFrame with one row per run: ``endpoint``, ``model_id``, ``clients``,
``run_name``, ``run_url``, ``interrupted`` and every scalar stats.json key under its own
name, as the sweep summary has. ``charts()`` renders the sweep's charts from it (the same
``CHARTS`` as the Prefect sweep), ``result(run_name)`` loads one run with its responses.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import fsspec
import pandas as pd

from .results import Result
from .storage import join_url

__all__ = ["SweepResult"]

_RUN_FILES = ("stats.json", "summary.json", "run_config.json")


@dataclass
class SweepResult:
    """One row per run of a sweep (``frame``), the run folders by name (``runs``)."""

    folder: str
    frame: pd.DataFrame
    runs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str) -> "SweepResult":
        """Every run folder directly under ``folder`` (local path or any fsspec URL)."""
        fs, root = fsspec.core.url_to_fs(folder)
        if not fs.isdir(root):
            raise FileNotFoundError(f"{folder}: no such sweep folder")
        rows: list[dict[str, Any]] = []
        runs: dict[str, str] = {}
        for entry in sorted(fs.ls(root, detail=False)):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if not fs.isdir(entry) or not any(fs.exists(f"{entry}/{f}") for f in _RUN_FILES):
                continue
            url = join_url(folder, name)
            result = Result.load(url, load_responses=False)
            runs[result.run_name or name] = url
            rows.append(_row(result, url))
        if not rows:
            raise FileNotFoundError(f"{folder} holds no run folder (none with {', '.join(_RUN_FILES)})")
        frame = pd.DataFrame(rows)
        frame = frame.sort_values(["endpoint", "clients"], kind="stable", na_position="last").reset_index(drop=True)
        return cls(folder=folder, frame=frame, runs=runs)

    def result(self, run_name: str, load_responses: bool = True) -> Result:
        """One run of the sweep, with its responses by default."""
        if run_name not in self.runs:
            raise KeyError(f"no run {run_name!r} in {self.folder} (runs: {', '.join(self.runs)})")
        return Result.load(self.runs[run_name], load_responses=load_responses)

    def charts(self, dpi: int = 80) -> dict[str, bytes]:
        """PNG bytes of the sweep charts (one line per endpoint when there are several)."""
        from .sweep_charts import render_charts

        series = "endpoint" if self.frame["endpoint"].nunique(dropna=True) > 1 else None
        return render_charts(self.frame, series=series, dpi=dpi)

    def plot_results(self, folder: str | None = None) -> dict[str, str]:
        """Write ``charts()`` as ``<folder>/charts/<name>.png`` (default: the sweep folder)."""
        urls: dict[str, str] = {}
        for name, data in self.charts().items():
            url = join_url(folder or self.folder, "charts", f"{name}.png")
            fs, path = fsspec.core.url_to_fs(url)
            fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with fs.open(path, "wb") as handle:
                handle.write(data)
            urls[name] = url
        return urls


def _row(result: Result, url: str) -> dict[str, Any]:
    stats = result.stats
    row: dict[str, Any] = {
        "endpoint": result.endpoint_name or result.model_id,
        "model_id": result.model_id,
        "clients": result.clients,
        "run_name": result.run_name,
        "run_url": url,
        "interrupted": bool(result.interrupted),
    }
    for key, value in stats.items():
        if key in row:
            continue
        if isinstance(value, dict):
            row[key] = json.dumps(value, sort_keys=True)
        elif value is None or isinstance(value, (bool, int, float, str)):
            row[key] = value
    return row
