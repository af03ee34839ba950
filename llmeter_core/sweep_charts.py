"""Sweep charts: latency percentiles, throughput, error rate (and cost) against client count.

The one home of the sweep chart definitions (``CHARTS``) and their rendering, used by the
Prefect sweep (``flows/charts.py`` writes and publishes them) and by ``SweepResult`` when a
sweep is loaded back in Python. Rendered with matplotlib's Agg canvas (no display, no
browser: plotly's PNG export needs kaleido and a Chrome install, which a fresh offline
machine does not have). Figures are built with the object API, never pyplot's global
state, so sweeps running at the same time can render from worker threads without stepping
on each other.

With a ``series`` column (one value per endpoint or model) every chart draws one line per
series: that is the model comparison.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import pandas as pd
from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

__all__ = ["Chart", "CHARTS", "render_charts", "load_axis", "finish_png"]


@dataclass(frozen=True)
class Chart:
    """One chart: file name, title, y label, the stats columns drawn and a y scale factor.
    An ``optional`` chart is drawn only when the sweep has a value in one of its columns."""

    name: str
    title: str
    ylabel: str
    columns: tuple[str, ...]
    scale: float = 1.0
    optional: bool = False


CHARTS: tuple[Chart, ...] = (
    Chart(
        "ttft",
        "Time to first token",
        "seconds",
        ("time_to_first_token-p50", "time_to_first_token-p90", "time_to_first_token-p99"),
    ),
    Chart(
        "ttlt",
        "Time to last token",
        "seconds",
        ("time_to_last_token-p50", "time_to_last_token-p90", "time_to_last_token-p99"),
    ),
    Chart("throughput", "Throughput (completed requests per second)", "req / s", ("completed_requests_per_second",)),
    Chart("requests-per-minute", "Requests per minute", "requests / min", ("requests_per_minute",)),
    Chart("output-tps", "Output tokens per second", "tokens / s", ("output_tps",)),
    Chart("error-rate", "Error rate", "% of requests failed", ("failed_requests_rate",), scale=100.0),
    Chart(
        "cost",
        "Cost per 1M output tokens and per 1k requests",
        "cost",
        ("cost_per_1m_output_tokens", "cost_per_1k_requests"),
        optional=True,
    ),
    Chart(
        "achieved-rate",
        "Achieved vs offered rate (open loop)",
        "requests / s",
        ("offered_rate", "achieved_rate"),
        optional=True,
    ),
)

_STYLES = ("-", "--", ":")


def render_charts(frame: pd.DataFrame, series: str | None = None, dpi: int = 80) -> dict[str, bytes]:
    """PNG bytes for every chart in ``CHARTS``, keyed by chart name.

    ``frame`` has a ``clients`` column (or, for a sweep over rates, a ``rate`` column: the
    x axis is then the offered rate) and stats columns; missing values (a run with no
    successful request has no latency) leave gaps rather than failing the sweep.
    """
    x = load_axis(frame)
    groups = list(frame.groupby(series, sort=False)) if series and series in frame.columns else [(None, frame)]
    ticks = sorted({float(v) for v in frame[x].dropna()}) if x in frame.columns else []
    return {
        chart.name: _render(chart, groups, ticks, dpi, x)
        for chart in CHARTS
        if not chart.optional or _has_values(frame, chart.columns)
    }


def load_axis(frame: pd.DataFrame) -> str:
    """``rate`` for a sweep over request rates, else ``clients``."""
    if "rate" in frame.columns and pd.to_numeric(frame["rate"], errors="coerce").notna().any():
        return "rate"
    return "clients"


def _has_values(frame: pd.DataFrame, columns: tuple[str, ...]) -> bool:
    return any(c in frame.columns and pd.to_numeric(frame[c], errors="coerce").notna().any() for c in columns)


def _render(chart: Chart, groups: list, ticks: list[float], dpi: int, x: str = "clients") -> bytes:
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    fig = Figure(figsize=(6.0, 3.6), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for g, (label, group) in enumerate(groups):
        group = group.sort_values(x)
        for c, column in enumerate(chart.columns):
            if column not in group.columns:
                continue
            y = pd.to_numeric(group[column], errors="coerce") * chart.scale
            parts = [str(label)] if label is not None else []
            if len(chart.columns) > 1:
                parts.append(column.rsplit("-", 1)[-1])
            ax.plot(
                group[x],
                y,
                marker="o",
                linestyle=_STYLES[c % len(_STYLES)],
                color=colors[(g if label is not None else c) % len(colors)],
                label=" ".join(parts) or None,
            )
    if ticks:
        ax.set_xticks(ticks)
    xlabel = "offered rate (requests / s)" if x == "rate" else "concurrent clients"
    return finish_png(fig, ax, chart.title, xlabel, chart.ylabel)


def finish_png(fig: Figure, ax: Any, title: str, xlabel: str, ylabel: str) -> bytes:
    """Titles, a y axis from 0, grid and legend (when anything is labelled), then the PNG:
    how every load-against-metric chart ends (the sweep charts and the capacity charts)."""
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    if ax.get_legend_handles_labels()[1]:
        ax.legend(fontsize="small")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
