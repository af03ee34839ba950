"""``llmeter-flows`` commands that need no Prefect: ``run`` and ``emulator``.

The console script is ``flows.cli:app``, which adds the Prefect commands (``sweep``,
``serve``, ``demo``) to this app; ``python -m llmeter_core.cli`` works without them.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from .emulator.cli import emulator_app
from .errors import ConfigError, LLMeterError

__all__ = ["app"]

app = typer.Typer(no_args_is_help=True, add_completion=False, help="Load-test LLM endpoints.")
app.add_typer(emulator_app, name="emulator", help="Serve a local emulator of an LLM API.")

err = Console(stderr=True)


@app.command()
def run(
    spec: Path = typer.Argument(..., help="YAML spec file of one run"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Results root (overrides the spec's output)"),
    run_name: Optional[str] = typer.Option(None, help="Run folder name (overrides the spec)"),
    display: bool = typer.Option(True, "--display/--no-display", help="Live stats display"),
) -> None:
    """Run one load test from a spec file, with a live display. Ctrl-C saves what was measured."""
    from .spec import load_spec

    try:
        parsed = load_spec(spec)
        overrides = {"display": display}
        if output is not None:
            overrides["output_path"] = output
        if run_name is not None:
            overrides["run_name"] = run_name
        runner = parsed.runner(**overrides)
    except ConfigError as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2)
    try:
        result = runner.run_sync()
    except LLMeterError as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(1)
    if result.output_path:
        _add_history_row(result.output_path, output if output is not None else parsed.output)
    where = result.output_path or "(not saved: no output)"
    state = "interrupted; partial run saved" if result.interrupted else "done"
    print(f"{state}: {result.total_requests} requests, {result.stats['failed_requests']} failed -> {where}")
    if result.interrupted:
        raise typer.Exit(130)


def _add_history_row(run_url: str, root: str) -> None:
    """Every saved run adds its row to ``<output>/history`` (see history.py); a failed write
    is a warning, never a lost run."""
    from .history import record_run

    try:
        record_run(run_url, str(root))
    except Exception as exc:  # the run itself is saved; say so and go on
        err.print(f"[yellow]warning[/yellow] history row not written: {exc}", highlight=False)


def main() -> None:  # pragma: no cover - console entry for `python -m llmeter_core.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
