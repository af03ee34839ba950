"""A rich live display of a run, for terminals and Jupyter notebooks.

It is a live-stats sink: it only redraws when a snapshot arrives (every ``live_interval``),
from a worker thread, with rich's auto-refresh off, so it never competes with the run it
watches. In a terminal it redraws in place with ``rich.live.Live``; in Jupyter it updates one
output cell in place through IPython's ``display(..., display_id=True)`` handle (rich's own
Live needs ipywidgets there), showing the same rich rendering.
"""

from __future__ import annotations

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from .live import LiveSnapshot, grouped_rows

__all__ = ["LiveDisplay", "render_snapshot"]


def render_snapshot(snapshot: LiveSnapshot) -> Panel:
    """The renderable for one snapshot: a progress line and a grouped stats table."""
    if snapshot.expected_requests:
        bound = f"{snapshot.responses_done:,}/{snapshot.expected_requests:,} requests"
    elif snapshot.run_duration:
        bound = f"{snapshot.elapsed_s:,.1f}/{snapshot.run_duration:g} s"
    else:
        bound = f"{snapshot.responses_done:,} requests"
    state = "interrupted" if snapshot.interrupted else ("done" if snapshot.final else "running")
    header = Text.assemble(
        (f"{snapshot.run_name} ", "bold"),
        (f"[{state}] ", "yellow" if snapshot.interrupted else "green"),
        f"{bound} · {snapshot.in_flight} in flight · {snapshot.elapsed_s:,.1f} s",
    )
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    table.add_column("group")
    table.add_column("stat")
    table.add_column("value", justify="right")
    last_group = None
    for group, label, value in grouped_rows(snapshot.stats):
        table.add_row(group if group != last_group else "", label, value)
        last_group = group
    bar = ProgressBar(total=1.0, completed=min(max(snapshot.progress, 0.0), 1.0), width=40)
    return Panel(Group(header, bar, table), title="llmeter", expand=False)


class LiveDisplay:
    """Sink showing the latest snapshot in place. Use as a context manager around the run."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console()
        self._live: Live | None = None
        self._handle = None  # IPython DisplayHandle in Jupyter

    def __enter__(self) -> "LiveDisplay":
        if self.console.is_jupyter:
            from IPython.display import display

            self._handle = display(Text("waiting for the first snapshot…"), display_id=True)
        else:
            self._live = Live(console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, snapshot: LiveSnapshot) -> None:
        rendered = render_snapshot(snapshot)
        if self._handle is not None:
            self._handle.update(rendered)
        elif self._live is not None:
            self._live.update(rendered, refresh=True)
        elif snapshot.final:
            self.console.print(rendered)
