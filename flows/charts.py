"""Sweep charts on disk and in the UI. The charts themselves (``CHARTS``, ``render_charts``)
live in ``llmeter_core.sweep_charts``, shared with ``SweepResult``.

Each chart is a PNG written beside the sweep summary through fsspec, so ``s3://`` roots work
too, and the same bytes are embedded in a markdown artifact as data URIs so the Prefect UI
shows them without access to the bucket.
"""

from __future__ import annotations

import base64

import fsspec

from llmeter_core.sweep_charts import CHARTS, Chart, render_charts

from .layout import join_url

__all__ = ["Chart", "CHARTS", "render_charts", "write_charts", "charts_markdown"]


def write_charts(pngs: dict[str, bytes], folder: str, prefix: str = "") -> dict[str, str]:
    """Write each PNG to ``<folder>/charts/<prefix><name>.png``; returns name -> URL."""
    urls: dict[str, str] = {}
    for name, data in pngs.items():
        url = join_url(folder, "charts", f"{prefix}{name}.png")
        fs, path = fsspec.core.url_to_fs(url)
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "wb") as handle:
            handle.write(data)
        urls[name] = url
    return urls


def charts_markdown(title: str, pngs: dict[str, bytes], urls: dict[str, str]) -> str:
    """A markdown document showing every chart inline (data URI) with where its file is."""
    lines = [f"# {title}", ""]
    by_name = {chart.name: chart for chart in CHARTS}
    for name, data in pngs.items():
        chart = by_name.get(name)
        heading = chart.title if chart else name
        encoded = base64.b64encode(data).decode()
        lines += [f"## {heading}", "", f"![{heading}](data:image/png;base64,{encoded})", ""]
        if name in urls:
            lines += [f"File: `{urls[name]}`", ""]
    return "\n".join(lines)
