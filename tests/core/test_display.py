import io
import sys
import types

from rich.console import Console

from llmeter_core import Runner
from llmeter_core.display import LiveDisplay
from llmeter_core.live import LiveSnapshot, format_value, grouped_rows
from tests.fakes import FakeEndpoint

STATS = {
    "requests_per_minute": 1281.0,
    "time_to_first_token-p50": 0.107,
    "failed_requests": 2,
    "failed_requests_rate": 0.01,
    "errors": {"http_429": 2},
    "total_output_tokens": 4000,
}


def snap(**kw):
    base = dict(
        run_name="r",
        elapsed_s=3.0,
        requests_sent=10,
        responses_done=8,
        in_flight=2,
        expected_requests=20,
        run_duration=None,
        progress=0.4,
        stats=STATS,
    )
    base.update(kw)
    return LiveSnapshot(**base)


def test_formatting():
    assert format_value("time_to_first_token-p50", 0.107) == "107.0 ms"
    assert format_value("time_to_last_token-p50", 2.5) == "2.500 s"
    assert format_value("failed_requests_rate", 0.01) == "1.0%"
    assert format_value("total_output_tokens", 4000) == "4,000"
    assert format_value("output_tps", None) == "—"
    rows = grouped_rows(STATS)
    assert ("Throughput", "requests/min", "1,281.0") in rows and ("Errors", "http_429", "2") in rows


def test_terminal_display_renders_groups_in_place():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with LiveDisplay(console) as display:
        display(snap())
        display(snap(final=True, responses_done=20, progress=1.0))
    text = out.getvalue()
    for word in ("Throughput", "TTFT", "TTLT", "Tokens", "Errors", "107.0 ms", "20/20 requests"):
        assert word in text


def test_jupyter_display_updates_one_cell(monkeypatch):
    updates = []

    class Handle:
        def update(self, obj):
            updates.append(obj)

    fake = types.ModuleType("IPython.display")
    fake.display = lambda obj, display_id=False: Handle()
    monkeypatch.setitem(sys.modules, "IPython", types.ModuleType("IPython"))
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    console = Console(file=io.StringIO(), force_jupyter=True)
    with LiveDisplay(console) as display:
        display(snap())
        display(snap(final=True))
    assert len(updates) == 2
    html = updates[-1]._repr_mimebundle_(include=[], exclude=[])
    assert "Throughput" in str(html)


def test_display_in_a_run_does_not_change_results(capsys):
    result = Runner(
        FakeEndpoint(ttft=0.01, tokens=2),
        [{"prompt": "a b"}],
        clients=2,
        run_duration=0.5,
        live_interval=0.1,
        display=True,
    ).run_sync()
    assert result.total_requests > 10
    shown = capsys.readouterr().out
    assert "[done]" in shown and f"{result.total_requests}" in shown
