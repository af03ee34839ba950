"""``llmeter-flows`` commands that need no Prefect: ``run`` and ``emulator``.

``add_core_commands`` registers them on a Typer app: on this module's ``app`` (``python -m
llmeter_core.cli``), and on the app of ``flows.cli`` (the console script ``flows.console:main``),
which adds the Prefect commands (``sweep``, ``serve``, ``demo``) to its own app, never to this one.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from .cli_help import HelpApp
from .emulator.cli import emulator_app
from .errors import ConfigError, LLMeterError, StorageError
from .live import estimated_counts, generator_verdict
from .slo import slo_line

__all__ = [
    "app",
    "add_core_commands",
    "new_app",
    "main",
    "print_error",
    "EXIT_FAILED",
    "EXIT_BAD_INPUT",
    "EXIT_NOT_SAVED",
    "EXIT_INTERRUPTED",
]

EXIT_FAILED = 1  # the run could not go on (an endpoint that cannot be opened...)
EXIT_BAD_INPUT = 2  # bad spec, option or output path: nothing was sent
EXIT_NOT_SAVED = 74  # results not (fully) saved: disk full, write error, failed upload (sysexits EX_IOERR)
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: the partial run was saved

err = Console(stderr=True, soft_wrap=True)  # one line per error, however long


def print_error(exc: BaseException | str) -> None:
    """``error <message>`` on stderr, as written: no markup (``[litellm]`` in a hint is text)
    and no wrapping (each problem stays on its line)."""
    err.print(f"[red]error[/red] {escape(str(exc))}", highlight=False, soft_wrap=True)


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
        if parsed.load.shards > 1:  # several processes: Prefect starts them (flows/shard_cli.py)
            raise ConfigError(
                "load.shards",
                f"{parsed.load.shards} shards are started through Prefect: run `llmeter-flows run {spec}`",
            )
        overrides: dict[str, Any] = {"display": display}
        if output is not None:
            overrides["output_path"] = output
        if run_name is not None:
            overrides["run_name"] = run_name
        runner = parsed.runner(**overrides)
    except ConfigError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    try:
        result = runner.run_sync()
    except LLMeterError as exc:
        print_error(exc)
        raise typer.Exit(_exit_status(exc)) from None
    if parsed.plots and result.output_path and result.responses and not result.interrupted:  # Ctrl-C: exit now
        _write_plots(result)
    if result.output_path:
        _add_history_row(result.output_path, output if output is not None else parsed.output)
    where = result.output_path or "(not saved: no output)"
    stop_reason = result.stats.get("stop_reason")  # the run stopped itself (endpoint unreachable)
    state = (
        "interrupted; partial run saved"
        if result.interrupted
        else (f"stopped, {stop_reason}; partial run saved" if stop_reason else "done")
    )
    print(f"{state}: {result.total_requests} requests, {result.stats['failed_requests']} failed -> {where}")
    if result.stats.get("load_mode") == "rate":
        print(
            f"offered {result.stats.get('offered_rate') or 0:.1f} req/s, achieved "
            f"{result.stats.get('achieved_rate') or 0:.1f} req/s, dispatch delay p99 "
            f"{(result.stats.get('dispatch_delay-p99') or 0) * 1000:.2f} ms"
        )
    throughput = result.stats.get("completed_requests_per_second")
    if throughput is not None:
        print(f"throughput {throughput:.2f} req/s, {result.stats.get('output_tps') or 0:.1f} output tok/s")
    estimated = estimated_counts(result.stats)
    if estimated:
        err.print(f"[yellow]warning[/yellow] {estimated} (the API reported no usage)", highlight=False)
    slo_verdict = slo_line(result.stats)
    if slo_verdict:
        print(slo_verdict)
    verdict = generator_verdict(result.stats)
    if verdict:
        print_error(verdict)
    if result.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    if stop_reason:
        raise typer.Exit(EXIT_FAILED)


def _write_plots(result) -> None:
    """The run's latency charts beside it; a failure is a warning (the run is saved)."""
    from .plots import write_run_plots

    try:
        write_run_plots(result)
    except Exception as exc:  # noqa: BLE001 - charts are a view of what was saved
        err.print(f"[yellow]warning[/yellow] charts not written: {type(exc).__name__}: {exc}", highlight=False)


def new_app() -> typer.Typer:
    """An empty ``llmeter-flows`` Typer app (the settings every command line of the project shares)."""
    return HelpApp(no_args_is_help=True, add_completion=False, help="Load-test LLM endpoints.")


def add_core_commands(target: typer.Typer, run_command: Any = None) -> typer.Typer:
    """Register ``emulator`` and ``run`` on ``target``; returns it. ``run_command`` replaces
    ``run`` (flows/ gives one that runs ``load.shards`` > 1 through Prefect, else this one)."""
    target.add_typer(emulator_app, name="emulator", help="Serve a local emulator of an LLM API.")
    target.command(name="run")(run_command or run)
    return target


app = add_core_commands(new_app())


def _exit_status(exc: LLMeterError) -> int:
    if isinstance(exc, ConfigError):  # found at the start of the run (output folder, run name)
        return EXIT_BAD_INPUT
    if isinstance(exc, StorageError):
        return EXIT_INTERRUPTED if exc.interrupted else EXIT_NOT_SAVED
    return EXIT_FAILED


def _add_history_row(run_url: str, root: str) -> None:
    """Every saved run adds its row to ``<output>/history`` (see history.py); a failed write
    is a warning, never a lost run."""
    from .history import record_run

    try:
        record_run(run_url, str(root))
    except Exception as exc:  # the run itself is saved; say so and go on
        err.print(f"[yellow]warning[/yellow] history row not written: {exc}", highlight=False)


def main() -> None:  # pragma: no cover - console entry for `python -m llmeter_core.cli`
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside a command (a run saves its partial results itself)
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    main()
