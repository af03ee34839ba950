"""The interactive charts of the HTML report (``html_report``), as plotly figures.

The same things the PNG charts show, so a user reads one story in the UI and in the file:

- a sweep: every chart of ``sweep_charts.CHARTS`` (latency percentiles, throughput, tokens,
  errors... against load), one line per endpoint in a model comparison, in the display
  units of the tables (``units.unit_of``: ms, req/s, tok/s, %);
- a capacity search: the SLO metrics against offered load with each limit and the capacity
  found, and goodput against achieved rate (as ``capacity_charts``);
- a nightly: each metric's change against the baseline with its confidence interval and
  threshold, coloured by verdict.

Hover shows the exact values; zoom and legend toggles come with plotly. User text (endpoint
names) is escaped before it reaches a figure: plotly renders a few HTML tags in labels.
"""

from __future__ import annotations

import html
from typing import Any, Sequence

import pandas as pd
import plotly.graph_objects as go

from .compare import Comparison, short_name
from .sweep_charts import CHARTS, load_axis
from .units import unit_of

__all__ = ["sweep_figures", "capacity_figures", "change_figure", "CHANGE_COLORS"]

_DASHES = ("solid", "dash", "dot")

#: Bar colour of a metric's change by its verdict.
CHANGE_COLORS = {"regressed": "#cf222e", "improved": "#1a7f37", "unchanged": "#8c959f", "n/a": "#d0d7de"}


def _layout(fig: go.Figure, title: str, xlabel: str, ylabel: str) -> go.Figure:
    fig.update_layout(
        title=title,
        template="plotly_white",
        xaxis_title=xlabel,
        yaxis_title=ylabel,
        hovermode="x unified",
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    fig.update_yaxes(rangemode="tozero")
    return fig


def _xlabel(x: str) -> str:
    return "offered rate (req/s)" if x == "rate" else "concurrent clients"


def sweep_figures(frame: pd.DataFrame, series: str | None = None) -> dict[str, go.Figure]:
    """A figure per chart of ``CHARTS`` (optional ones only with values), by chart name; with
    ``series`` (``endpoint``) one line per series, as ``sweep_charts.render_charts``."""
    if frame.empty:
        return {}
    x = load_axis(frame)
    groups = list(frame.groupby(series, sort=False)) if series and series in frame.columns else [(None, frame)]
    ticks = sorted({float(v) for v in pd.to_numeric(frame[x], errors="coerce").dropna()}) if x in frame else []
    out: dict[str, go.Figure] = {}
    for chart in CHARTS:
        present = [c for c in chart.columns if c in frame.columns]
        if chart.optional and not any(pd.to_numeric(frame[c], errors="coerce").notna().any() for c in present):
            continue
        unit, factor = unit_of(chart.columns[0])
        fig = go.Figure()
        for label, group in groups:
            group = group.sort_values(x)
            for i, column in enumerate(present):
                parts = [html.escape(str(label))] if label is not None else []
                if len(chart.columns) > 1:
                    parts.append(column.rsplit("-", 1)[-1])
                y = pd.to_numeric(group[column], errors="coerce") * factor
                fig.add_trace(
                    go.Scatter(
                        x=group[x].tolist(),
                        y=[None if pd.isna(v) else float(v) for v in y],
                        mode="lines+markers",
                        name=" ".join(parts) or chart.title,
                        line={"dash": _DASHES[i % len(_DASHES)]},
                    )
                )
        out[chart.name] = _layout(fig, chart.title, _xlabel(x), unit or chart.ylabel)
        out[chart.name].update_xaxes(tickvals=ticks)  # the load points, as the PNG charts
    return out


def capacity_figures(search: dict[str, Any]) -> dict[str, go.Figure]:
    """``slo-metric`` and ``goodput`` from one endpoint's capacity.json content (``probes``,
    ``slo``, ``mode``, ``capacity``); none without probes."""
    from .capacity_charts import CAPACITY_CHART_TITLES

    probes = sorted(search.get("probes") or [], key=lambda p: p["load"])
    if not probes:
        return {}
    xlabel = _xlabel("rate" if search.get("mode") == "rate" else "clients")
    capacity = search.get("capacity")
    slo = search.get("slo") or {}
    loads = [p["load"] for p in probes]

    slo_fig = go.Figure()
    for name, limit in ((k, v) for k, v in slo.items() if k.endswith("_ms") and v is not None):
        short = name.removesuffix("_ms")
        values = [p["metrics"].get(f"slo_observed_{name}") for p in probes]
        slo_fig.add_trace(
            go.Scatter(x=loads, y=values, mode="lines+markers", name=f"{short} p{slo.get('percentile', 90):g}")
        )
        slo_fig.add_hline(y=limit, line_dash="dash", annotation_text=f"limit {limit:g} ms")
    _capacity_line(slo_fig, capacity)

    goodput_fig = go.Figure()
    for column, label in (("goodput", "goodput"), ("achieved_rate", "achieved rate")):
        goodput_fig.add_trace(go.Scatter(x=loads, y=[p.get(column) for p in probes], mode="lines+markers", name=label))
    if search.get("mode") == "rate":
        goodput_fig.add_trace(go.Scatter(x=loads, y=loads, mode="lines", name="offered", line={"dash": "dot"}))
    _capacity_line(goodput_fig, capacity)
    return {
        "slo-metric": _layout(slo_fig, CAPACITY_CHART_TITLES["slo-metric"], xlabel, "ms"),
        "goodput": _layout(goodput_fig, CAPACITY_CHART_TITLES["goodput"], xlabel, "req/s"),
    }


def _capacity_line(fig: go.Figure, capacity: float | None) -> None:
    if capacity is not None:
        fig.add_vline(x=capacity, line_dash="dashdot", line_color="green", annotation_text=f"capacity {capacity:g}")


def change_figure(endpoint: str, comparisons: Sequence[Comparison]) -> go.Figure | None:
    """Each metric's change against the baseline (% or, for the error rate, points), one bar
    group per load point, the confidence interval as error bars, ± threshold as ticks, the bar
    coloured by verdict; None when nothing was compared."""
    if not comparisons:
        return None
    fig = go.Figure()
    for comparison in comparisons:
        metrics = [m for m in comparison.metrics if m.change is not None]
        if not metrics:
            continue
        names = [short_name(m.metric) for m in metrics]
        change = [m.change * 100 for m in metrics if m.change is not None]
        fig.add_trace(
            go.Bar(
                x=names,
                y=change,
                name=comparison.point,
                marker_color=[CHANGE_COLORS.get(m.verdict, CHANGE_COLORS["n/a"]) for m in metrics],
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [None if m.ci_high is None else (m.ci_high - (m.change or 0)) * 100 for m in metrics],
                    "arrayminus": [None if m.ci_low is None else ((m.change or 0) - m.ci_low) * 100 for m in metrics],
                },
                text=[comparison.point] * len(metrics),  # the load point on its bar: the colour is the verdict
                textposition="outside",
                textfont={"size": 10},
                showlegend=False,
                customdata=[[m.verdict, m.threshold * 100] for m in metrics],
                hovertemplate="%{text} %{x}: %{y:+.1f} (%{customdata[0]}, threshold ±%{customdata[1]:g})",
            )
        )
        for sign in (1, -1):
            fig.add_trace(
                go.Scatter(
                    x=names,
                    y=[sign * m.threshold * 100 for m in metrics],
                    mode="markers",
                    marker={"symbol": "line-ew-open", "size": 18, "color": "#57606a"},
                    name="threshold",
                    showlegend=sign == 1 and comparison is comparisons[0],
                    hoverinfo="skip",
                )
            )
    fig.update_layout(
        title=f"{html.escape(endpoint)}: change against the baseline (red regressed, green improved, grey unchanged)",
        template="plotly_white",
        barmode="group",
        yaxis_title="change (%; error rate: points)",
        margin={"l": 60, "r": 20, "t": 50, "b": 50},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig
