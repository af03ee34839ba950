"""Trend charts of the nightly report: key metrics over the last nights, baseline marked.

One PNG per endpoint, four panels (TTFT p90, TTLT p90, requests per minute, error rate),
one line per load point over its last ``nights`` runs with the same configuration. The
baseline run(s) are ringed and the baseline value is a dashed line (for ``{last: N}`` it is
their median); tonight's run is a star. Drawn with matplotlib's object API on an Agg canvas,
like ``charts.py``, so it runs in worker threads and without a display.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure

__all__ = ["TREND_METRICS", "TrendSeries", "render_trend"]

#: (stats key, title, unit, scale) of each panel.
TREND_METRICS: tuple[tuple[str, str, str, float], ...] = (
    ("time_to_first_token-p90", "TTFT p90", "ms", 1000.0),
    ("time_to_last_token-p90", "TTLT p90", "ms", 1000.0),
    ("requests_per_minute", "Requests per minute", "req/min", 1.0),
    ("failed_requests_rate", "Error rate", "% failed", 100.0),
)


@dataclass
class TrendSeries:
    """One load point's runs (oldest first), its baseline and tonight's run."""

    label: str
    rows: pd.DataFrame
    baseline_urls: set[str] = field(default_factory=set)
    baseline_values: dict[str, float | None] = field(default_factory=dict)
    tonight_url: str | None = None


def _times(rows: pd.DataFrame) -> list[Any]:
    return [
        t.tz_convert("UTC").tz_localize(None).to_pydatetime() if hasattr(t, "tz_convert") else t
        for t in rows["start_time"]
    ]


def render_trend(endpoint: str, series: list[TrendSeries], dpi: int = 80) -> bytes:
    """The PNG of one endpoint's trend panels."""
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    fig = Figure(figsize=(9.0, 5.6), dpi=dpi)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    for ax, (key, title, unit, scale) in zip(axes.flat, TREND_METRICS, strict=False):
        for i, s in enumerate(series):
            if s.rows.empty or key not in s.rows.columns:
                continue
            color = colors[i % len(colors)]
            times = _times(s.rows)
            values = pd.to_numeric(s.rows[key], errors="coerce") * scale
            ax.plot(times, values, marker="o", markersize=3, linewidth=1.2, color=color, label=s.label)
            urls = list(s.rows["run_url"])
            ringed = [(t, v) for t, v, u in zip(times, values, urls, strict=True) if u in s.baseline_urls]
            if ringed:
                ax.scatter(*zip(*ringed, strict=True), s=90, facecolors="none", edgecolors=color, linewidths=1.5)
            base = s.baseline_values.get(key)
            if base is not None:
                ax.axhline(base * scale, color=color, linestyle="--", linewidth=0.9, alpha=0.8)
            tonight = [(t, v) for t, v, u in zip(times, values, urls, strict=True) if u == s.tonight_url]
            if tonight:
                ax.scatter(*zip(*tonight, strict=True), marker="*", s=140, color=color, zorder=3)
        ax.set_title(title, fontsize="medium")
        ax.set_ylabel(unit)
        ax.set_ylim(bottom=0)
        if key == "failed_requests_rate" and ax.get_ylim()[1] < 1.0:
            ax.set_ylim(0, 1.0)  # no errors: show a 0-1 % scale, not 0-0.05 %
        ax.grid(True, alpha=0.3)
        locator = AutoDateLocator(minticks=2, maxticks=6)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    if labels:
        fig.legend(handles, labels, loc="upper right", fontsize="small")
    fig.suptitle(f"{endpoint}: last nights (○ baseline, dashed: baseline value, ★ tonight)", fontsize="medium")
    fig.tight_layout(rect=(0, 0, 0.88, 0.95))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
