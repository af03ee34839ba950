"""The HTML report's page parts (llmeter_core.html_report, sweep_html): user text escaped,
links relative to the file (or the location as text when outside its folder), a page that
fetches nothing, and a run_config.json shown as written."""

from __future__ import annotations

import json
import re

from llmeter_core import html_report as h
from llmeter_core.sweep_html import summary_cells, sweep_page

EVIL = '<script>alert("x")</script>'


def _rows(folder: str) -> list[dict]:
    return [
        {
            "endpoint": EVIL,
            "model_id": "m",
            "clients": clients,
            "run_name": f"{clients:05d}-clients",
            "run_url": f"{folder}/{clients:05d}-clients",
            "time_to_first_token-p50": 0.0123 * clients,
            "time_to_last_token-p50": 0.2 * clients,
            "completed_requests_per_second": 4.0 * clients,
            "failed_requests_rate": 0.0,
        }
        for clients in (1, 2)
    ]


def test_user_text_is_escaped_everywhere_in_the_page(tmp_path):
    folder = str(tmp_path)
    (tmp_path / "00001-clients").mkdir()
    (tmp_path / "00001-clients" / "run_config.json").write_text(json.dumps({"run_description": EVIL}))
    page = sweep_page(f"Sweep {EVIL}", "load-test-sweep", _rows(folder), list(_rows(folder)[0]), folder)
    assert EVIL not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    # in the chart data too: plotly's JSON escapes "<", and the name is escaped before it
    assert "\\u003cscript\\u003e" not in page and "&lt;script&gt;" in page
    assert not re.search(r"<script[^>]*\ssrc\s*=", page)
    assert page.count("run_config.json</summary>") == 1  # the second run has none: left out, no failure


def test_the_summary_table_is_in_display_units():
    columns = ["clients", "time_to_first_token-p50", "failed_requests_rate", "run_url"]
    headers, cells = summary_cells(_rows("/r"), columns)
    assert headers == ["clients", "TTFT p50 (ms)", "Failed (%)"]  # run_url is linked in the runs list
    assert cells == [["1", "12.3", "0"], ["2", "24.6", "0"]]


def test_links_are_relative_inside_the_folder_and_text_outside():
    assert h.relative_href("s3://b/sweep/t/00001-clients", "s3://b/sweep/t") == "00001-clients"
    assert h.relative_href("s3://b/sweep/t/m/probe-01", "s3://b/sweep/t/") == "m/probe-01"
    assert h.relative_href("s3://b/other/00001-clients", "s3://b/sweep/t") is None
    assert h.relative_href("/r/sweep/t2/x", "/r/sweep/t") is None  # a sibling with a common prefix
    inside = h.link("/r/t/00001-clients", "/r/t", is_folder=True)
    assert inside == '<a href="00001-clients/">00001-clients</a>'
    outside = h.link("/elsewhere/a&b", "/r/t", "baseline")
    assert outside == "baseline: <code>/elsewhere/a&amp;b</code>"
    assert h.link(None, "/r/t") == "not saved"


def test_report_names_follow_the_summary_files():
    assert h.report_name() == "report.html"
    assert h.report_name("comparison") == "comparison-report.html"
