"""Capacity search charts: what each probe measured against the load it offered.

- ``slo-metric``: each SLO limit's metric at the SLO's percentile (``slo_observed_<limit>``)
  against offered load, the limit as a dashed line and the capacity found as a vertical one;
- ``goodput``: goodput and achieved rate against offered load (the gap between them is the
  requests that missed the SLO; achieved below offered is saturation).

Rendered like the sweep charts (``sweep_charts.py``): matplotlib's Agg canvas, object API
only, so searches can render from worker threads; PNG bytes out.
"""

from __future__ import annotations

from typing import Any

from matplotlib import rcParams
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .sweep_charts import finish_png

__all__ = ["render_capacity_charts", "CAPACITY_CHART_TITLES"]

CAPACITY_CHART_TITLES = {
    "slo-metric": "SLO metrics against offered load",
    "goodput": "Goodput and achieved rate against offered load",
}


def render_capacity_charts(search: dict[str, Any], dpi: int = 80) -> dict[str, bytes]:
    """PNG bytes by chart name from one endpoint's capacity.json content (``probes``, ``slo``,
    ``mode``, ``capacity``); no chart without probes."""
    probes = sorted(search.get("probes") or [], key=lambda p: p["load"])
    if not probes:
        return {}
    xlabel = "offered rate (requests / s)" if search.get("mode") == "rate" else "concurrent clients"
    capacity = search.get("capacity")
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    out: dict[str, bytes] = {}

    fig, ax = _figure(dpi)
    limits = {k: v for k, v in (search.get("slo") or {}).items() if k.endswith("_ms") and v is not None}
    pct = (search.get("slo") or {}).get("percentile", 90)
    for i, (name, limit) in enumerate(limits.items()):
        color = colors[i % len(colors)]
        points = [(p["load"], p["metrics"].get(f"slo_observed_{name}")) for p in probes]
        points = [(x, y) for x, y in points if y is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", color=color, label=f"{name.removesuffix('_ms')} p{pct:g}")
        ax.axhline(limit, color=color, linestyle="--", linewidth=1, label=f"limit {limit:g} ms")
    _mark_capacity(ax, capacity)
    out["slo-metric"] = finish_png(fig, ax, CAPACITY_CHART_TITLES["slo-metric"], xlabel, "ms")

    fig, ax = _figure(dpi)
    for column, label, color in (("goodput", "goodput", colors[0]), ("achieved_rate", "achieved rate", colors[1])):
        points = [(p["load"], p.get(column)) for p in probes if p.get(column) is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", color=color, label=label)
    if search.get("mode") == "rate":
        loads = [p["load"] for p in probes]
        ax.plot(loads, loads, color="grey", linestyle=":", linewidth=1, label="offered")
    _mark_capacity(ax, capacity)
    out["goodput"] = finish_png(fig, ax, CAPACITY_CHART_TITLES["goodput"], xlabel, "requests / s")
    return out


def _figure(dpi: int) -> tuple[Figure, Any]:
    fig = Figure(figsize=(6.0, 3.6), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot()


def _mark_capacity(ax: Any, capacity: float | None) -> None:
    if capacity is not None:
        ax.axvline(capacity, color="green", linestyle="-.", linewidth=1, label=f"capacity {capacity:g}")
