"""The nightly report as one self-contained HTML file: ``<night folder>/nightly-report.html``.

The artifact lives in the Prefect UI; this file is what a user attaches to a ticket about a
regression: the verdict, the table of load points, per endpoint an interactive chart of each
metric's change against the baseline (confidence interval and threshold), the trend chart
of the last nights, each comparison's table, relative links to tonight's runs and to the
other reports of the night folder (each endpoint's sweep, the comparison), and tonight's
run configurations (run_config.json, secret-free). Built from ``llmeter_core.html_report``.
"""

from __future__ import annotations

import base64
import html

import fsspec

from llmeter_core import html_report as h
from llmeter_core.compare_format import metric_cells
from llmeter_core.html_charts import change_figure

from .layout import slug
from .regression import NightVerdict, PointResult

__all__ = ["REPORT_PREFIX", "nightly_page"]

#: The HTML report's name prefix: ``nightly-report.html``.
REPORT_PREFIX = "nightly"

_METRIC_HEADERS = ["metric", "baseline", "candidate", "change", "CI", "threshold", "verdict"]


def _findings(p: PointResult) -> str:
    found = p.comparison.findings() if p.comparison else []
    return ", ".join(found) if found else (p.note or "-")


def _points_table(verdict: NightVerdict, folder: str) -> str:
    rows = [
        [
            p.endpoint,
            p.point,
            "did not run" if p.status == "not-run" else p.verdict,
            _findings(p),
            p.baseline.note if p.baseline else "-",
            h.link(p.run_url, folder, is_folder=True) if p.run_url else "-",
        ]
        for p in verdict.points
    ]
    return h.table(["endpoint", "load", "verdict", "findings", "baseline", "run"], rows, text_columns=[0, 2, 3, 4])


def _point_section(p: PointResult, folder: str) -> str:
    c = p.comparison
    if c is None:
        return h.section(f"{p.endpoint} at {p.point}: {p.verdict}", h.paragraph(p.note or "-"), level=3)
    where = [
        f"<li>candidate: {h.link(c.candidate_url, folder, is_folder=True)}</li>",
        *(f"<li>baseline: {h.link(url, folder, is_folder=True)}</li>" for url in c.baseline_urls),
    ]
    if c.new_error_types:
        kinds = ", ".join(f"{k} ({v})" for k, v in sorted(c.new_error_types.items()))
        where.append(f"<li><strong>new error types</strong> (a regression): {html.escape(kinds)}</li>")
    headers = [*_METRIC_HEADERS[:4], f"{c.confidence * 100:g} % CI", *_METRIC_HEADERS[5:]]
    table = h.table(headers, [metric_cells(m) for m in c.metrics], text_columns=[0, 6])
    return h.section(f"{c.endpoint} at {c.point}: {c.verdict}", "<ul>" + "".join(where) + "</ul>", table, level=3)


def _other_reports(folder: str, own: str) -> list[str]:
    """URLs of the night folder's other HTML reports (each endpoint's sweep, the comparison)."""
    try:
        fs, root = fsspec.core.url_to_fs(folder)
        found = sorted(fs.glob(f"{root.rstrip('/')}/*report.html"))
    except OSError:
        return []
    names = [path.rsplit("/", 1)[-1] for path in found]
    return [f"{folder.rstrip('/')}/{name}" for name in names if name != own]


def nightly_page(
    verdict: NightVerdict, title: str, pngs: dict[str, bytes], flow_run_url: str | None, own_name: str
) -> str:
    """The whole document for the file ``own_name`` in ``verdict.folder``."""
    folder = verdict.folder
    facts: list[tuple[str, object]] = [
        ("flow", "nightly-benchmark"),
        ("suite", verdict.suite),
        ("endpoints", ", ".join(dict.fromkeys(p.endpoint for p in verdict.points)) or "-"),
        ("baseline", verdict.policy.describe()),
        ("results", folder),
    ]
    if flow_run_url:
        facts.append(("flow run", flow_run_url))
    settings = verdict.settings
    rule = (
        f"A regression: significant at {settings.confidence * 100:g} % and beyond the threshold "
        f"(default ±{settings.thresholds.get('default', settings.default_threshold) * 100:g} %, error rate "
        f"±{settings.error_rate_threshold * 100:g} points), or a new error type."
    )
    sections = [
        h.section(
            "Verdict",
            f"<p><strong>{html.escape(verdict.headline())}</strong></p>",
            h.paragraph(rule, "note"),
            _points_table(verdict, folder),
        )
    ]
    for endpoint in dict.fromkeys(p.endpoint for p in verdict.points):
        points = [p for p in verdict.points if p.endpoint == endpoint]
        parts = []
        figure = change_figure(endpoint, [p.comparison for p in points if p.comparison is not None])
        if figure is not None:
            parts.append(h.chart(figure, f"chart-{slug(endpoint)}-change"))
        if endpoint in pngs:
            data = base64.b64encode(pngs[endpoint]).decode()
            parts.append(f'<img alt="{html.escape(endpoint)} trend" src="data:image/png;base64,{data}">')
        parts += [_point_section(p, folder) for p in points]
        sections.append(h.section(endpoint, *parts))
    others = _other_reports(folder, own_name)
    if others:
        listed = "".join(f"<li>{h.link(url, folder)}</li>" for url in others)
        sections.append(h.section("Reports of this night", f"<ul>{listed}</ul>"))
    runs = [(f"{p.endpoint} at {p.point}", p.run_url) for p in verdict.points if p.run_url]
    sections.append(h.section("Run configuration", h.configs(h.read_run_configs(runs))))
    return h.page(title, facts, sections)
