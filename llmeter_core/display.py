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

__all__ = ["LiveDisplay", "render_snapshot", "PANEL_WIDTH"]

#: The panel's width in columns, the same for every frame (a panel sized to its content
#: jumps as values grow, and a terminal that redraws in place, tmux, leaves the old edge).
PANEL_WIDTH = 72

#: Widths of the group and metric columns; the value column takes the rest.
_GROUP_WIDTH, _METRIC_WIDTH = 12, 26


def _status(snapshot: LiveSnapshot) -> Text:
    """``run [running] · 12.5/60 s · 812 responses · 4 in flight``: the bound the run stops
    at and the elapsed time, once."""
    if snapshot.expected_requests:
        bound = f"{snapshot.responses_done:,}/{snapshot.expected_requests:,} requests · {snapshot.elapsed_s:,.1f} s"
    elif snapshot.run_duration:
        bound = f"{snapshot.elapsed_s:,.1f}/{snapshot.run_duration:g} s · {snapshot.responses_done:,} responses"
    else:
        bound = f"{snapshot.responses_done:,} responses · {snapshot.elapsed_s:,.1f} s"
    state = "interrupted" if snapshot.interrupted else ("done" if snapshot.final else "running")
    return Text.assemble(
        (f"{snapshot.run_name} ", "bold"),
        (f"[{state}]", "yellow" if snapshot.interrupted else "green"),
        f" · {bound} · {snapshot.in_flight} in flight",
    )


def _progress(snapshot: LiveSnapshot) -> Table:
    """The bar and its percentage on one line of their own (a bare ProgressBar in a Group
    ends without a newline: the next line, the table header, was drawn onto it)."""
    done = min(max(snapshot.progress, 0.0), 1.0)
    line = Table.grid(expand=True, padding=(0, 1))
    line.add_column(ratio=1)
    line.add_column(width=4, justify="right")
    line.add_row(ProgressBar(total=1.0, completed=done), f"{done:.0%}")
    return line


def render_snapshot(snapshot: LiveSnapshot, width: int = PANEL_WIDTH) -> Panel:
    """The renderable for one snapshot: a status line, a progress bar and the grouped stats
    (units in the group titles and labels, ``live.DISPLAY_GROUPS``), ``width`` columns wide
    whatever the values."""
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False, expand=True)
    table.add_column("group", width=_GROUP_WIDTH, no_wrap=True)
    table.add_column("metric", width=_METRIC_WIDTH, overflow="fold")
    table.add_column("value", justify="right", ratio=1, overflow="fold")
    last_group = None
    for group, label, value in grouped_rows(snapshot.stats):
        table.add_row(group if group != last_group else "", label, value)
        last_group = group
    return Panel(Group(_status(snapshot), _progress(snapshot), table), title="llmeter", width=width)


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
        rendered = render_snapshot(snapshot, width=min(PANEL_WIDTH, self.console.width))
        if self._handle is not None:
            self._handle.update(rendered)
        elif self._live is not None:
            self._live.update(rendered, refresh=True)
        elif snapshot.final:
            self.console.print(rendered)
