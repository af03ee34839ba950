"""Per-run charts: latency heatmaps by input x output length, TTFT and TTLT histograms.

What LLMeter's ``LatencyHeatmap`` and ``plot_results`` show, as PNG bytes rendered with
matplotlib's Agg canvas and the object API (no display, no pyplot global state, so runs in
worker threads can render at once). ``write_run_plots`` writes them beside the run, in
``<run folder>/plots/<name>.png``, through fsspec (``s3://`` run folders too).

- ``latency-heatmap-ttft`` / ``latency-heatmap-ttlt``: successful requests binned by
  ``num_tokens_input`` (x) and ``num_tokens_output`` (y) into at most ``bins`` equal-width
  bins each; a cell's colour is the median latency of its requests, its label the median
  (ms) and the request count.
- ``ttft-histogram`` / ``ttlt-histogram``: the distribution of each latency over successful
  requests, with p50 and p90 marked.

A chart without data (no successful streamed request has a TTFT) is left out.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any, Iterable, Sequence

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .response import InvocationResponse
    from .results import Result

__all__ = ["RUN_PLOTS", "latency_heatmap", "latency_histogram", "render_run_plots", "write_run_plots", "plots_markdown"]

#: name -> (metric, title) of every per-run chart.
RUN_PLOTS: dict[str, tuple[str, str]] = {
    "latency-heatmap-ttft": ("time_to_first_token", "Median time to first token by input x output tokens"),
    "latency-heatmap-ttlt": ("time_to_last_token", "Median time to last token by input x output tokens"),
    "ttft-histogram": ("time_to_first_token", "Time to first token"),
    "ttlt-histogram": ("time_to_last_token", "Time to last token"),
}


def _figure(width: float = 6.4, height: float = 4.2, dpi: int = 80) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _edges(values: np.ndarray, bins: int) -> np.ndarray:
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.array([low - 0.5, high + 0.5])
    return np.linspace(low, high, min(bins, int(high - low) + 1) + 1)


def latency_heatmap(
    inputs: Sequence[float], outputs: Sequence[float], latencies: Sequence[float], title: str, bins: int = 6
) -> bytes | None:
    """The heatmap PNG of ``latencies`` binned by input and output token counts (None
    without data). Each cell holds the median latency of its requests and their count."""
    x, y, z = (np.asarray(v, dtype=float) for v in (inputs, outputs, latencies))
    if z.size == 0:
        return None
    x_edges, y_edges = _edges(x, bins), _edges(y, bins)
    xi = np.clip(np.digitize(x, x_edges[1:-1]), 0, len(x_edges) - 2)
    yi = np.clip(np.digitize(y, y_edges[1:-1]), 0, len(y_edges) - 2)
    grid = np.full((len(y_edges) - 1, len(x_edges) - 1), np.nan)
    counts = np.zeros_like(grid, dtype=int)
    for row in range(grid.shape[0]):
        for col in range(grid.shape[1]):
            cell = z[(yi == row) & (xi == col)]
            if cell.size:
                grid[row, col] = float(np.median(cell))
                counts[row, col] = cell.size
    fig = _figure()
    ax = fig.add_subplot()
    mesh = ax.pcolormesh(x_edges, y_edges, np.ma.masked_invalid(grid), cmap="viridis", shading="flat")
    fig.colorbar(mesh, ax=ax, label="median seconds")
    for row in range(grid.shape[0]):
        for col in range(grid.shape[1]):
            if counts[row, col]:
                ax.text(
                    (x_edges[col] + x_edges[col + 1]) / 2,
                    (y_edges[row] + y_edges[row + 1]) / 2,
                    f"{grid[row, col] * 1000:.0f} ms\nn={counts[row, col]}",
                    ha="center",
                    va="center",
                    fontsize="x-small",
                    color="white",
                )
    ax.set_title(title, fontsize="medium")
    ax.set_xlabel("input tokens")
    ax.set_ylabel("output tokens")
    return _png(fig)


def latency_histogram(values: Sequence[float], title: str, bins: int = 30) -> bytes | None:
    """The histogram PNG of ``values`` (seconds) with p50 and p90 marked (None without data)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return None
    fig = _figure(6.0, 3.6)
    ax = fig.add_subplot()
    ax.hist(data, bins=min(bins, max(1, data.size)), color="#4c72b0", alpha=0.85)
    for q, style in ((50, "-"), (90, "--")):
        value = float(np.percentile(data, q, method="linear"))
        ax.axvline(value, color="black", linestyle=style, linewidth=1, label=f"p{q} {value * 1000:.1f} ms")
    ax.set_title(title)
    ax.set_xlabel("seconds")
    ax.set_ylabel("requests")
    ax.legend(fontsize="small")
    ax.grid(True, alpha=0.3)
    return _png(fig)


def render_run_plots(responses: Iterable["InvocationResponse"], bins: int = 6) -> dict[str, bytes]:
    """PNG bytes of every chart in ``RUN_PLOTS`` that has data, keyed by name."""
    ok = [r for r in responses if r.ok]
    out: dict[str, bytes] = {}
    for name, (metric, title) in RUN_PLOTS.items():
        rows = [r for r in ok if getattr(r, metric) is not None]
        if name.startswith("latency-heatmap"):
            rows = [r for r in rows if r.num_tokens_input is not None and r.num_tokens_output is not None]
            png = latency_heatmap(
                [r.num_tokens_input or 0 for r in rows],
                [r.num_tokens_output or 0 for r in rows],
                [getattr(r, metric) for r in rows],
                title,
                bins,
            )
        else:
            png = latency_histogram([getattr(r, metric) for r in rows], title)
        if png is not None:
            out[name] = png
    return out


def write_run_plots(result: "Result", pngs: dict[str, bytes] | None = None) -> dict[str, str]:
    """Write the run's charts to ``<run folder>/plots/``; returns name -> URL. Needs the
    responses in memory (``low_memory`` runs: load the folder with ``Result.load`` first)."""
    import fsspec

    from .storage import join_url

    if not result.output_path:
        return {}
    pngs = render_run_plots(result.responses) if pngs is None else pngs
    urls: dict[str, str] = {}
    for name, data in pngs.items():
        url = join_url(result.output_path, "plots", f"{name}.png")
        fs, path = fsspec.core.url_to_fs(url)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as handle:
            handle.write(data)
        urls[name] = url
    return urls


def plots_markdown(title: str, pngs: dict[str, bytes], urls: dict[str, str]) -> str:
    """A markdown document showing each chart inline (data URI), with where its file is."""
    import base64

    lines = [f"# {title}", ""]
    for name, data in pngs.items():
        heading = RUN_PLOTS.get(name, (None, name))[1]
        lines += [f"## {heading}", "", f"![{heading}](data:image/png;base64,{base64.b64encode(data).decode()})", ""]
        if name in urls:
            lines += [f"File: `{urls[name]}`", ""]
    return "\n".join(lines)
