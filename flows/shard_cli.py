"""``llmeter-flows run`` for sharded specs: ``load.shards`` > 1 runs through Prefect.

The core ``run`` command (``llmeter_core.cli.run``) never imports Prefect; a spec whose
``load.shards`` is above 1 needs it (the shards are Prefect tasks in their own processes, or
flow runs on a work pool), so the console app registers this command as ``run`` instead: it
reads the spec, hands a one-process spec to the core command unchanged, and runs a sharded
one with the ``sharded-load-test`` flow.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

from llmeter_core.cli import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, print_error
from llmeter_core.cli import run as core_run
from llmeter_core.errors import ConfigError, LLMeterError

__all__ = ["run"]


def run(
    spec: Path = typer.Argument(..., help="YAML spec file of one run"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="Results root (overrides the spec's output)"),
    run_name: Optional[str] = typer.Option(None, help="Run folder name (overrides the spec)"),
    display: bool = typer.Option(True, "--display/--no-display", help="Live stats display"),
) -> None:
    """Run one load test from a spec file, with a live display. Ctrl-C saves what was measured.

    With load.shards > 1 the run is split over that many processes (Prefect tasks on this
    machine, or flow runs on the work pool load.shard_pool) and merged into one run folder."""
    from llmeter_core.spec import load_spec

    try:
        parsed = load_spec(spec)
    except ConfigError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if parsed.load.shards <= 1:
        core_run(spec, output, run_name, display)
        return
    updates: dict[str, Any] = {}
    if output is not None:
        updates["output"] = output
    if run_name is not None:
        updates["run_name"] = run_name
    parsed = parsed.model_copy(update=updates)
    _run_sharded(parsed)


def _run_sharded(spec: Any) -> None:
    from .cli import _run_flow, err, prefect_environment

    api = prefect_environment()
    err.print(f"Prefect API: {api}")
    from .sharded_run import sharded_load_test

    try:
        summary = _run_flow(sharded_load_test(spec))
    except ConfigError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except LLMeterError as exc:
        print_error(exc)
        raise typer.Exit(EXIT_FAILED) from None
    stats = summary["stats"]
    state = "interrupted; partial run saved" if summary["interrupted"] else "done"
    if stats.get("partial") and not summary["interrupted"]:
        state = "partial (a shard did not complete)"
    print(
        f"{state}: {summary['total_requests']} requests over {stats.get('shards')} shards, "
        f"{stats.get('failed_requests')} failed -> {summary['run_url']}"
    )
    skew = stats.get("start_skew_s-max")
    print(f"start skew max {skew * 1000:.2f} ms" if isinstance(skew, (int, float)) else "start skew: -")
    if stats.get("load_mode") == "rate":
        print(
            f"offered {stats.get('offered_rate') or 0:.1f} req/s, achieved {stats.get('achieved_rate') or 0:.1f} "
            f"req/s, dispatch delay p99 {(stats.get('dispatch_delay-p99') or 0) * 1000:.2f} ms"
        )
    if stats.get("partial_reason"):
        print_error(f"partial run: {stats['partial_reason']}")
    if stats.get("client_bound"):
        print_error(f"CLIENT-BOUND: {stats.get('client_bound_reason')}")
    if summary["interrupted"]:
        raise typer.Exit(EXIT_INTERRUPTED)
    if stats.get("partial"):
        raise typer.Exit(EXIT_FAILED)
