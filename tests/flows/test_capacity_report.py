"""The capacity report and charts from capacity.json content (no Prefect run)."""

from __future__ import annotations

from flows.capacity_report import capacity_markdown, probe_rows, verdict_line
from llmeter_core.capacity import CapacitySearch, CapacitySpec, Probe
from llmeter_core.capacity_charts import render_capacity_charts
from llmeter_core.slo import SLO


def _search(label: str, capacity: float) -> dict:
    slo = SLO(ttft_ms=500)
    search = CapacitySearch(CapacitySpec(start=10, max_load=200), "rate")
    while (load := search.next_load()) is not None:
        ok = load <= capacity
        search.record(
            Probe(
                load=load,
                passed=ok,
                attainment=1.0 if ok else 0.4,
                offered_rate=load,
                achieved_rate=load,
                goodput=load if ok else 0.4 * load,
                metrics={"slo_observed_ttft_ms": 100 if ok else 900},
                reason=None if ok else "ttft_ms: p90 900 ms > 500 ms (+80%)",
                run_folder=f"/r/{label}/probe",
            )
        )
    out = {"endpoint": label, "mode": "rate", "slo": slo.model_dump(), "slo_text": slo.describe()}
    out.update(search.outcome().to_json())
    out["capacity_json"] = f"/r/{label}/capacity.json"
    return out


def test_the_report_puts_every_verdict_first_then_compares_then_details():
    a, b = _search("model-a", 37), _search("model-b", 90)
    pngs = {"model-a": render_capacity_charts(a), "model-b": render_capacity_charts(b)}
    assert set(pngs["model-a"]) == {"slo-metric", "goodput"}
    assert all(png.startswith(b"\x89PNG") for png in pngs["model-a"].values())
    text = capacity_markdown("Capacity search nightly", [a, b], pngs)
    lines = text.splitlines()
    assert lines[0] == "# Capacity search nightly"
    assert lines[2].startswith("**model-a: capacity 36.7 req/s (bracket [36.7, 40]) at ttft p90 <= 500 ms")
    assert lines[3].startswith("**model-b: capacity ")
    assert text.index("## Comparison") < text.index("## model-a") < text.index("## model-b")
    assert text.count("data:image/png;base64,") == 4
    assert verdict_line(a) in text


def test_probe_rows_show_the_slo_metric_and_why_a_probe_failed():
    rows = probe_rows(_search("m", 37))
    assert list(rows[0])[:6] == [
        "probe",
        "load",
        "offered (req/s)",
        "achieved (req/s)",
        "attainment (%)",
        "goodput (req/s)",
    ]
    assert rows[0]["ttft (ms)"] == "100" and rows[0]["passed"] == "yes"
    assert rows[0]["attainment (%)"] == "100.0" and rows[0]["offered (req/s)"] == "10.0"
    assert rows[0]["run folder"] == "/r/m/probe"  # the path itself: each table renders it
    markdown = capacity_markdown("t", [_search("m", 37)], {})
    assert "| `/r/m/probe` |" in markdown  # in the artifact a local path is text, not a link
    failed = [r for r in rows if r["passed"] == "NO"]
    assert failed and failed[0]["reason"].startswith("ttft_ms: p90 900 ms")
