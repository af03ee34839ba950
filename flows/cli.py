"""The ``llmeter-flows`` console app: its own Typer app with the core commands
(``llmeter_core.cli.add_core_commands``) plus ``sweep``, ``nightly``, ``serve``, ``demo``,
``capacity`` (``capacity_cli.py``), and
``history`` / ``compare`` (``history_cli.py``, no Prefect import).

``run`` and ``emulator`` come from ``llmeter_core.cli`` and never import Prefect; the
commands added here import it inside their bodies, so ``llmeter-flows run`` starts fast.

Without ``PREFECT_API_URL`` the flows use Prefect's ephemeral API: the first flow call starts
a temporary server (10-25 s here) writing to the default database (``~/.prefect``), which
``make ui`` (``prefect server start``) then shows. If a server already answers on
127.0.0.1:4200, the commands use it instead, so the two never write one database at once.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from llmeter_core.cli import add_core_commands, new_app, print_error
from llmeter_core.errors import ConfigError, LLMeterError
from llmeter_core.live import estimated_counts
from llmeter_core.units import display_header, display_text

from .capacity_cli import register as register_capacity_command
from .history_cli import register as register_history_commands
from .shard_cli import run as run_command  # `run`, with load.shards > 1 through Prefect

__all__ = ["app", "main", "prefect_environment", "sweep_table"]

# Wide enough for the sweep table when piped (rich assumes 80 columns without a terminal).
out = Console(width=max(shutil.get_terminal_size((140, 24)).columns, 120))
err = Console(stderr=True)

LOCAL_UI_API = "http://127.0.0.1:4200/api"

app = add_core_commands(new_app(), run_command=run_command)
register_history_commands(app)  # history, compare (no Prefect import)
register_capacity_command(app)  # capacity (flows/capacity_cli.py)

DEMO_PROMPTS = [
    "Explain what time to first token measures, in two sentences.",
    "Write a haiku about load testing.",
    "Summarise the plot of a detective story you invent.",
    "List three reasons a server can get slower under load.",
]


def prefect_environment() -> str:
    """Quiet, offline-safe Prefect defaults (set before Prefect is imported); returns which
    API the flows will use."""
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("NO_PROXY", "127.0.0.1,localhost")
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    if _healthy(LOCAL_UI_API):
        os.environ["PREFECT_API_URL"] = LOCAL_UI_API
        return LOCAL_UI_API
    return "ephemeral (a temporary local server; `make ui` shows its runs afterwards)"


def _healthy(api_url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{api_url}/health", timeout=0.5).status_code == 200
    except httpx.HTTPError:
        return False


def _estimated(row: dict[str, Any]) -> bool:
    """The row's token counts are not all the API's usage (``live.estimated_counts``)."""
    stats = {}
    for key in ("num_tokens_input_sources", "num_tokens_output_sources"):
        value = row.get(key)
        stats[key] = json.loads(value) if isinstance(value, str) else value
    return estimated_counts(stats) is not None


#: The stats of a sweep's rows the command's table shows, after the load column(s).
_SWEEP_TABLE_KEYS: tuple[str, ...] = (
    "total_requests",
    "failed_requests",
    "completed_requests_per_second",
    "requests_per_minute",
    "output_tps",
    "time_to_first_token-p50",
    "time_to_first_token-p90",
    "time_to_first_token-p99",
    "time_to_last_token-p50",
    "time_to_last_token-p99",
)


def sweep_table(rows: list[dict[str, Any]], title: str) -> Table:
    """The sweep (or comparison) table printed at the end of a command: the headers and
    units of the report artifact (``llmeter_core/units.py``: ``TTFT p50 (ms)``...)."""
    # 13 columns in 120: a word a line in the headers, one space and the divider between columns
    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, padding=(0, 0, 0, 1))
    multi = len({r.get("endpoint") for r in rows}) > 1
    rated = any(r.get("rate") is not None for r in rows)
    load = ["rate", "achieved_rate"] if rated else ["clients"]
    columns = (["endpoint"] if multi else []) + load + list(_SWEEP_TABLE_KEYS)
    for column in columns:
        header = column if column in ("endpoint", "clients") else display_header(column)
        table.add_column(header.replace(" ", "\n"), justify="left" if column == "endpoint" else "right", no_wrap=True)
    for r in rows:
        cells = [str(r.get("endpoint"))] if multi else []
        cells += [display_text(key, r.get(key), missing="-") for key in columns if key != "endpoint"]
        if _estimated(r):
            cells[columns.index("output_tps")] += "*"
        table.add_row(*cells)
    return table


def _report(result: dict[str, Any], title: str, started: float) -> None:
    out.print(sweep_table(result["table"], title))
    if any(_estimated(row) for row in result["table"]):
        err.print(
            "[yellow]*[/yellow] estimated token counts: the server reported no usage, so output tokens were "
            "counted from the stream or by the tokenizer (stats.json num_tokens_output_sources)",
            highlight=False,
        )
    for row in result["table"]:
        if row.get("client_bound"):
            err.print(
                f"[yellow]warning[/yellow] {row.get('endpoint')} at {row.get('rate') or row.get('clients')}: "
                "CLIENT-BOUND, the load generator was the bottleneck (stats.json client_bound_reason): its "
                "numbers describe this machine, not the endpoint",
                highlight=False,
            )
    out.print(f"results: [bold]{result['folder']}[/bold]")
    out.print(f"summary: {result['csv']}  (and {Path(result['parquet']).name})")
    if result.get("charts"):
        charts_dir = next(iter(result["charts"].values())).rsplit("/", 1)[0]
        out.print(f"charts:  {charts_dir}/  ({', '.join(Path(u).name for u in result['charts'].values())})")
    if html := result.get("report_html") or result.get("html"):  # a nightly's own report first
        out.print(f"report:  {html}  (one HTML file: charts, tables, configuration; opens offline)")
    out.print(f"flow run: {_run_page(result['flow_run_id'])}")
    out.print(f"took {time.monotonic() - started:.0f} s")
    if result.get("interrupted"):
        err.print("[yellow]interrupted: the partial run was saved; later client counts were skipped[/yellow]")
        raise typer.Exit(130)


def _run_page(flow_run_id: str) -> str:
    """Where a flow run's artifacts are in the UI (or how to get there)."""
    run_page = f"/v2/runs/flow-run/{flow_run_id}?tab=Artifacts"
    api = os.environ.get("PREFECT_API_URL", "")
    if api.rstrip("/").endswith("/api"):
        return f"{api.rstrip('/')[:-4]}{run_page}"
    return f"start the UI with `make ui`, then open http://127.0.0.1:4200{run_page}"


@contextmanager
def _emulator_if(wanted: bool, **config: Any) -> Iterator[str | None]:
    if not wanted:
        yield None
        return
    from llmeter_core.emulator import EmulatorThread

    with EmulatorThread("openai", config) as emulator:
        yield f"{emulator.url}/v1"


def _run_flow(coro: Any) -> Any:
    """Run an async flow in this (main) thread, where a SIGTERM or Ctrl-C stops the load and
    keeps the partial run (see tasks/interrupts.py). On uvloop where it is installed, as
    ``Runner.run_sync`` (``llmeter_core/event_loop.py``)."""
    from llmeter_core.event_loop import loop_factory, run
    from tasks.interrupts import stop_on_signals

    try:
        loop_factory()  # a bad LLMETER_EVENT_LOOP: exit 2 before any flow run starts
    except ConfigError as exc:
        coro.close()
        print_error(exc)
        raise typer.Exit(2) from None
    with stop_on_signals():
        return run(coro)


@app.command()
def sweep(
    suite: Path = typer.Argument(
        ..., help="Suite YAML file (endpoints x load plan), e.g. deployments/suites/demo.yaml"
    ),
    results: Optional[str] = typer.Option(None, "--results", help="Results root: local path or s3://bucket/prefix"),
    emulator: bool = typer.Option(
        False, "--emulator", help="Start the built-in emulator and point ${LLMETER_EMULATOR_URL} at it"
    ),
) -> None:
    """Run a suite through Prefect: load_test_sweep for one endpoint, model_sweep for several."""
    api = prefect_environment()
    started = time.monotonic()
    with _emulator_if(emulator, ttft_ms=50.0, itl_ms=5.0, output_tokens=40) as url:
        if url:
            os.environ["LLMETER_EMULATOR_URL"] = url
        from .params import check_plan, load_suite, plan_checked

        try:
            spec = load_suite(suite)
            if results:
                spec = spec.model_copy(update={"results": results})
            check_plan(spec)  # endpoint options and payload files: exit 2 before any flow run starts
        except ConfigError as exc:
            print_error(exc)
            raise typer.Exit(2) from None
        err.print(f"Prefect API: {api}")
        try:
            with plan_checked():  # checked above: the flow does not check again
                if len(spec.endpoints) == 1:
                    from .sweep import load_test_sweep

                    result = _run_flow(load_test_sweep(spec.sweep(spec.endpoints[0])))
                else:
                    from .model_sweep import model_sweep

                    result = _run_flow(model_sweep(spec))
        except LLMeterError as exc:
            print_error(exc)
            raise typer.Exit(1) from None
    _report(result, f"{spec.name}", started)


@app.command()
def nightly(
    suite: str = typer.Argument("demo", help="Suite file, or a name in deployments/suites"),
    results: Optional[str] = typer.Option(None, "--results", help="Results root: local path or s3://bucket/prefix"),
) -> None:
    """Run the nightly benchmark once, now: the suite, then each run against its baseline.

    Exit 1 when something regressed or did not run (the report says what), 2 for bad input.
    """
    api = prefect_environment()
    started = time.monotonic()
    from .nightly import NightlyFailed, nightly_benchmark

    err.print(f"Prefect API: {api}")
    try:
        result = _run_flow(nightly_benchmark(suite, results))
    except ConfigError as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None
    except NightlyFailed as exc:
        err.print(f"[red]nightly failed[/red]: {exc}", highlight=False)
        if exc.verdict is not None:
            out.print(f"results: [bold]{exc.verdict.folder}[/bold]")
        if exc.flow_run_id:
            out.print(f"report:  {_run_page(exc.flow_run_id)}")
        raise typer.Exit(1) from None
    except LLMeterError as exc:
        err.print(f"[red]error[/red] {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"verdict: {result['verdict']}", highlight=False)
    _report(result, f"nightly {Path(suite).stem}", started)


@app.command()
def demo(
    results: str = typer.Option("./results", "--results", help="Results root: local path or s3://bucket/prefix"),
    clients: str = typer.Option("1,2,4,8", help="Client counts, comma-separated"),
    n_requests: int = typer.Option(10, help="Requests per client in each run"),
) -> None:
    """Start the built-in emulator and sweep it over 1, 2, 4, 8 clients through Prefect."""
    api = prefect_environment()
    started = time.monotonic()
    try:
        counts = [int(c) for c in clients.split(",") if c.strip()]
    except ValueError:
        print_error(f"--clients: expected comma-separated whole numbers, got {clients!r}")
        raise typer.Exit(2) from None
    from pydantic import ValidationError

    from llmeter_core.spec import validation_problems

    from .params import SweepConfig, check_plan, plan_checked

    with _emulator_if(
        True, ttft_ms={"dist": "lognormal", "median": 60, "sigma": 0.3}, itl_ms=4.0, output_tokens=40, seed=1
    ) as url:
        try:
            config = SweepConfig(
                name="demo",
                description="llmeter-flows demo against the built-in emulator",
                endpoint={"type": "openai-chat", "model": "emulator-model", "base_url": url},
                payloads={"prompts": DEMO_PROMPTS, "max_tokens": 40},
                load={"n_requests": n_requests, "timeout": 30},
                clients=counts,
                results=results,
                live_interval=2.0,
            )
            check_plan(config)
        except ValidationError as exc:
            print_error(validation_problems(exc).error("invalid parameters"))
            raise typer.Exit(2) from None
        except ConfigError as exc:
            print_error(exc)
            raise typer.Exit(2) from None
        from .sweep import load_test_sweep

        err.print(f"Prefect API: {api}")

        try:
            with plan_checked():  # checked above: the flow does not check again
                result = _run_flow(load_test_sweep(config))
        except LLMeterError as exc:
            print_error(exc)
            raise typer.Exit(1) from None
    _report(result, "demo: built-in emulator", started)


@app.command()
def serve(
    prefect_file: Path = typer.Option(
        None, "--prefect-file", help="prefect.yaml to serve (default: deployments/prefect.yaml)"
    ),
) -> None:
    """Serve the deployments of prefect.yaml from this machine (flow.serve; no work pool)."""
    api = prefect_environment()
    from prefect import serve as prefect_serve

    from llmeter_core.spec import read_yaml

    from .deployments import PREFECT_YAML, runner_deployments

    path = prefect_file or PREFECT_YAML
    try:
        read_yaml(path, "--prefect-file")  # missing, binary or not YAML: one line, exit 2
        deployments = runner_deployments(path)
    except ConfigError as exc:
        print_error(exc)
        raise typer.Exit(2) from None
    except ValueError as exc:  # no deployments, a bad cron, parameters the flows refuse
        print_error(f"--prefect-file: {exc}")
        raise typer.Exit(2) from None
    err.print(f"Prefect API: {api}")
    if not os.environ.get("PREFECT_API_URL"):
        err.print(
            "[yellow]note[/yellow]: no PREFECT_API_URL; schedules live only while this process runs. "
            "Start `make ui` first to keep them and watch the runs."
        )
    err.print(f"serving {', '.join(d.name for d in deployments)} from {path}")
    prefect_serve(*deployments)


def main() -> None:  # pragma: no cover - `python -m flows.cli`; the console script is flows.console:main
    from .console import main as console_main

    console_main()


if __name__ == "__main__":  # pragma: no cover
    main()
