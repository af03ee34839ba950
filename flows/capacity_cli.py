"""``llmeter-flows capacity SUITE.yaml``: the capacity search through Prefect, from a shell.

Exit status 2 for bad input (no ``slo:``, a bad field: one line each, before any request), 1
when the flow fails, 130 when interrupted (the probes run are kept), 0 otherwise: the
answer, whatever it is ("at least", "below"), is printed, not turned into a status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Optional

import typer
from rich.table import Table

from llmeter_core.cli import print_error
from llmeter_core.errors import ConfigError, LLMeterError

__all__ = ["register", "capacity", "probe_table"]


def probe_table(search: dict[str, Any]) -> Table:
    """One endpoint's probes as a rich table (the columns of the report's table, but the folder)."""
    from .capacity_report import probe_rows

    rows = probe_rows(search)
    table = Table(title=f"{search['endpoint']}: probes ({search['slo_text']})")
    columns = [c for c in (rows[0] if rows else {}) if c != "run folder"]
    for column in columns:
        table.add_column(column, justify="left" if column == "reason" else "right")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    return table


def capacity(
    suite: Path = typer.Argument(..., help="Suite YAML file with an slo: block (search: rate or clients)"),
    results: Optional[str] = typer.Option(None, "--results", help="Results root: local path or s3://bucket/prefix"),
    emulator: bool = typer.Option(
        False, "--emulator", help="Start the built-in emulator and point ${LLMETER_EMULATOR_URL} at it"
    ),
) -> None:
    """Find, for each endpoint of a suite, the highest load whose run passes the suite's SLO."""
    import os

    from .cli import _emulator_if, _run_flow, _run_page, err, out, prefect_environment

    api = prefect_environment()
    started = time.monotonic()
    with _emulator_if(emulator, ttft_ms=50.0, itl_ms=5.0, output_tokens=40, max_concurrency=4) as url:
        if url:
            os.environ["LLMETER_EMULATOR_URL"] = url
        from .capacity import capacity_search, check_search
        from .params import load_suite, plan_checked

        try:
            spec = load_suite(suite)
            if results:
                spec = spec.model_copy(update={"results": results})
            check_search(spec)  # exit 2 before any flow run starts
        except ConfigError as exc:
            print_error(exc)
            raise typer.Exit(2) from None
        err.print(f"Prefect API: {api}")
        try:
            with plan_checked():
                result = _run_flow(capacity_search(spec))
        except LLMeterError as exc:
            print_error(exc)
            raise typer.Exit(1) from None
    for search in result["searches"]:
        out.print(probe_table(search))
    for search in result["searches"]:
        out.print(f"[bold]{search['verdict']}[/bold]", highlight=False)
        out.print(f"  capacity.json: {search['capacity_json']}", highlight=False)
    out.print(f"results: [bold]{result['folder']}[/bold]")
    if result.get("html"):
        out.print(f"report:  {result['html']}  (one HTML file: charts, tables, configuration; opens offline)")
    out.print(f"flow run: {_run_page(result['flow_run_id'])}")
    out.print(f"took {time.monotonic() - started:.0f} s")
    if result.get("interrupted"):
        err.print("[yellow]interrupted: the probes run were saved; the answer is the bracket so far[/yellow]")
        raise typer.Exit(130)


def register(app: typer.Typer) -> None:
    """Add ``capacity`` to the console app."""
    app.command("capacity")(capacity)
