import io
import re
import sys
import types

from rich.console import Console

from llmeter_core import Runner
from llmeter_core.display import PANEL_WIDTH, LiveDisplay
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


def test_formatting_is_in_display_units_with_the_unit_in_the_label():
    assert format_value("time_to_first_token-p50", 0.107) == "107.0"
    assert format_value("time_to_last_token-p50", 2.5) == "2,500.0"  # ms, however long
    assert format_value("failed_requests_rate", 0.01) == "1.0"
    assert format_value("total_output_tokens", 4000) == "4,000"
    assert format_value("output_tps", None) == "—"
    rows = grouped_rows(STATS)
    assert ("Throughput", "sent (req/min)", "1,281.0") in rows and ("Errors", "http_429", "2") in rows
    assert ("TTFT (ms)", "p50", "107.0") in rows and ("Errors", "failure rate (%)", "1.0") in rows
    groups = {group for group, _, _ in rows}
    assert "TTFT (s)" not in groups and "TTLT (s)" not in groups


def _panels(text: str) -> list[list[str]]:
    """The frames a recording console saw, each as its lines (top border to bottom border)."""
    panels: list[list[str]] = []
    for line in text.replace("╯", "╯\n").splitlines():  # a redraw starts right after the last frame
        if line.startswith("╭"):
            panels.append([])
        if panels and (not panels[-1] or not panels[-1][-1].startswith("╰")):
            panels[-1].append(line)
    return panels


def _frames(width: int) -> list[list[str]]:
    """Successive frames of a 60 s run through LiveDisplay, values growing, as a terminal
    that redraws in place (tmux) shows them."""
    console = Console(record=True, width=width, force_terminal=True, file=io.StringIO())
    growing = [
        {},
        {**STATS, "errors": {"incomplete": 3, "http_429": 2}, "incomplete_requests": 3},
        {
            **STATS,
            "requests_per_minute": 128_123.5,
            "time_to_first_token-p50": 12.5,
            "total_output_tokens": 40_000_000,
            "errors": {"incomplete": 3, "http_429": 2, "connection_reset_by_peer": 1},
            "incomplete_requests": 3,
        },
    ]
    with LiveDisplay(console) as display:
        for i, stats in enumerate(growing):
            elapsed = 0.5 + 29.5 * i
            display(
                snap(stats=stats, elapsed_s=elapsed, expected_requests=None, run_duration=60.0, progress=elapsed / 60)
            )
    return _panels(console.export_text())


def test_every_frame_has_its_headers_on_their_own_line_below_the_bar():
    for frame in _frames(width=100):
        bar = next(i for i, line in enumerate(frame) if "━" in line)
        assert not any(word in frame[bar] for word in ("group", "metric", "value"))  # no "━━━group"
        header = frame[bar + 1].strip("│ ").split()
        assert header == ["group", "metric", "value"], frame[bar + 1]
        assert frame[bar].rstrip(" │").endswith("%")  # the bar says its percentage


def test_the_panel_keeps_one_width_across_frames_and_fits_a_narrow_terminal():
    for width, expected in ((100, PANEL_WIDTH), (120, PANEL_WIDTH), (60, 60)):
        frames = _frames(width)
        assert len(frames) >= 3
        widths = {len(line) for frame in frames for line in frame}
        assert widths == {expected}, (width, widths)


def test_elapsed_time_once_and_incomplete_once():
    last = "\n".join(_frames(width=100)[-1])
    assert last.count("59.5") == 1  # "59.5/60 s", not again as "· 59.5 s"
    assert len(re.findall(r"\bincomplete\b", last)) == 1  # the count, not again among the error types
    assert "http_429" in last and "connection_reset_by_peer" in last


def test_terminal_display_renders_groups_in_place():
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=100)
    with LiveDisplay(console) as display:
        display(snap())
        display(snap(final=True, responses_done=20, progress=1.0))
    text = out.getvalue()
    for word in ("Throughput", "TTFT (ms)", "TTLT (ms)", "Tokens", "Errors", "107.0", "20/20 requests"):
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
