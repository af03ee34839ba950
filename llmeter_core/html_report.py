"""One self-contained HTML file per summary: what a user attaches to a ticket.

A report artifact lives in the Prefect UI and PNGs need a viewer; a sweep, model comparison,
capacity search or nightly also writes one HTML file beside its summary (``report.html``,
see ``report_name``) with interactive charts, the tables and the run configuration. It opens
from a laptop or a download from S3 with no server and no network: plotly.js is embedded
once in the page (about 4.6 MB), and every link to a run is relative to the file, so a copied
or downloaded folder keeps working.

This module is the page and its parts (``page``, ``table``, ``chart``, ``run_list``,
``configs``); the charts themselves are ``html_charts``. Rules kept here:

- **Every text is escaped** (``html.escape``): names, prompts and URLs come from users.
- **No secrets**: the configuration shown is each run's ``run_config.json``, which the
  runner writes from the endpoint's public settings only (header names, never values; no API
  key, no AWS credentials; ``Runner.run_config``), read back as written.
- **Written whole**: rendered in memory, then one put through fsspec like the summary files,
  so a reader on S3 never sees half a page.
"""

from __future__ import annotations

import html
import json
import posixpath
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping, Sequence

import fsspec

__all__ = [
    "report_name",
    "page",
    "section",
    "paragraph",
    "table",
    "Markup",
    "chart",
    "relative_href",
    "link",
    "run_list",
    "read_run_configs",
    "configs",
    "write_report",
]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:78rem;
padding:0 1rem;color:#1f2328}
h1{font-size:1.6rem;margin-bottom:.3rem}h2{border-bottom:1px solid #d0d7de;padding-bottom:.2rem;margin-top:2rem}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1rem;margin:.8rem 0}
dl.facts dt{font-weight:600}dl.facts dd{margin:0}
table{border-collapse:collapse;font-size:.9rem;margin:.6rem 0;display:block;overflow-x:auto}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;text-align:right;white-space:nowrap}
th{background:#f6f8fa}td.text,th.text{text-align:left}
.chart{border:1px solid #eaeef2;margin:.8rem 0}
pre{background:#f6f8fa;padding:.6rem;overflow-x:auto;font-size:.8rem}
details{margin:.3rem 0}summary{cursor:pointer}
.note{color:#57606a;font-size:.9rem}
"""


def report_name(prefix: str = "") -> str:
    """The report's file name: ``report.html``, prefixed like the summary files when a folder
    holds several (``small-report.html``, ``comparison-report.html``, ``nightly-report.html``)."""
    return f"{prefix}-report.html" if prefix else "report.html"


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def page(title: str, facts: Sequence[tuple[str, Any]], sections: Iterable[str]) -> str:
    """The whole document: title, a list of facts (flow, endpoints, when...), the sections
    (already HTML), and plotly.js once, inline, so the charts need no network."""
    from plotly.offline import get_plotlyjs

    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in [*facts, ("report written", made)])
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style><script>{get_plotlyjs()}</script></head><body>"
        f'<h1>{_e(title)}</h1><dl class="facts">{rows}</dl>' + "\n".join(sections) + "</body></html>\n"
    )


def section(heading: str, *parts: str, level: int = 2) -> str:
    """A heading (escaped) and its parts (HTML)."""
    return f"<section><h{level}>{_e(heading)}</h{level}>" + "".join(parts) + "</section>"


def paragraph(text: str, css: str = "") -> str:
    """A paragraph of plain text (escaped)."""
    attr = f' class="{css}"' if css else ""
    return f"<p{attr}>{_e(text)}</p>"


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], text_columns: Iterable[int] = ()) -> str:
    """An HTML table of display-ready cells (escaped; a cell that is ``Markup`` from ``link``
    is kept as HTML). ``text_columns``: indexes aligned left (names, reasons)."""
    left = set(text_columns)

    def cls(i: int) -> str:
        return ' class="text"' if i in left else ""

    head = "".join(f"<th{cls(i)}>{_e(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{_cell(c)}</td>" for i, c in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Markup(str):
    """HTML built here (a link): kept as it is inside ``table`` cells."""


def _cell(value: Any) -> str:
    return str(value) if isinstance(value, Markup) else _e(value)


def chart(figure: Any, div_id: str) -> str:
    """A plotly figure as a ``<div class="plotly-graph-div">`` and its script, with no copy of
    plotly.js (``page`` embeds it once)."""
    body = figure.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        default_height="380px",
        config={"displaylogo": False, "responsive": True},
    )
    return f'<div class="chart">{body}</div>'


def relative_href(url: str, folder: str) -> str | None:
    """``url`` relative to the report's ``folder`` when it lies inside it (``00004-clients/``),
    so the link survives copying or downloading the folder; None when it lies elsewhere."""
    base, target = folder.rstrip("/") + "/", url.rstrip("/")
    if not target.startswith(base):
        return None
    return posixpath.relpath(target, base.rstrip("/") or "/")


def link(url: str | None, folder: str, text: str | None = None, is_folder: bool = False) -> Markup:
    """A link relative to the report when ``url`` is inside ``folder``, else the location as
    text (an absolute path of another machine, or an S3 key, opens nothing from a laptop)."""
    if not url:
        return Markup("not saved")
    href = relative_href(url, folder)
    if href is None:
        return Markup(f"{_e(text) + ': ' if text else ''}<code>{_e(url)}</code>")
    return Markup(f'<a href="{_e(href + ("/" if is_folder else ""))}">{_e(text or href)}</a>')


def run_list(runs: Sequence[tuple[str, str | None]], folder: str) -> str:
    """Each run's folder and stats.json, relative to the report: ``(label, run_url)`` pairs."""
    items = []
    for label, url in runs:
        if url:
            stats = link(url.rstrip("/") + "/stats.json", folder, "stats.json")
            items.append(f"<li>{_e(label)}: {link(url, folder, is_folder=True)} ({stats})</li>")
        else:
            items.append(f"<li>{_e(label)}: not saved</li>")
    return "<ul>" + "".join(items) + "</ul>"


def read_run_configs(runs: Sequence[tuple[str, str | None]]) -> dict[str, dict[str, Any]]:
    """Each run's ``run_config.json`` as the runner wrote it (secret-free, see the module
    docstring), by label; a run without one (interrupted before it started, unreadable) is
    left out: the report is a view and must not fail the flow."""
    out: dict[str, dict[str, Any]] = {}
    for label, url in runs:
        if not url:
            continue
        try:
            fs, path = fsspec.core.url_to_fs(url.rstrip("/") + "/run_config.json")
            out[label] = json.loads(fs.cat_file(path))
        except (OSError, ValueError):
            continue
    return out


def configs(run_configs: Mapping[str, Mapping[str, Any]], extra: Mapping[str, Any] | None = None) -> str:
    """The configuration: ``extra`` (a search's SLO and settings) open, then each run's
    run_config.json folded (``<details>``), as JSON."""
    parts = []
    if extra:
        parts.append(f"<pre>{_e(json.dumps(extra, indent=2, sort_keys=True, default=str))}</pre>")
    for label, config in run_configs.items():
        text = _e(json.dumps(config, indent=2, sort_keys=True, default=str))
        parts.append(f"<details><summary>{_e(label)}: run_config.json</summary><pre>{text}</pre></details>")
    if not parts:
        parts.append(paragraph("No run configuration was saved.", "note"))
    return "".join(parts)


def write_report(document: str, url: str) -> str:
    """Write the page to ``url`` (local path or any fsspec URL) in one put; returns ``url``."""
    fs, path = fsspec.core.url_to_fs(url)
    parent = path.rsplit("/", 1)[0]
    if parent:
        fs.makedirs(parent, exist_ok=True)
    with fs.open(path, "wb") as handle:
        handle.write(document.encode())
    return url
