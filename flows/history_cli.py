"""``llmeter-flows history`` and ``llmeter-flows compare``: the history and regression verdicts
from a terminal or a CI job.

Neither needs Prefect (nothing here imports it, so they start fast); they live beside the
flows because they resolve a suite name against the results root the flows write to
(``layout.results_root``). Exit status: ``compare`` 1 when anything regressed (or a run of
the baseline is missing from the candidate), 0 otherwise; both 2 for bad input, with a
one-line error.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer
from rich.console import Console
from rich.table import Table

from llmeter_core.errors import ConfigError

from .layout import results_root, slug

__all__ = ["register", "history", "compare", "parse_since", "parse_thresholds"]

out = Console(width=160)
err = Console(stderr=True)

_VERDICT_STYLE = {"regressed": "bold red", "improved": "green", "unchanged": "", "n/a": "dim"}


def _fail(exc: ConfigError) -> NoReturn:
    err.print(f"[red]error[/red] {exc}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def parse_since(text: str | None) -> datetime | None:
    """``YYYY-MM-DD`` or an ISO date-time (UTC when no zone is given)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError("--since", f"expected a date YYYY-MM-DD or an ISO date-time, got {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def parse_thresholds(items: list[str]) -> dict[str, float]:
    """``["time_to_first_token-p90=0.05", ...]`` -> ``{"time_to_first_token-p90": 0.05}``."""
    thresholds: dict[str, float] = {}
    for item in items:
        key, sep, value = item.partition("=")
        try:
            if not sep or not key.strip():
                raise ValueError
            thresholds[key.strip()] = float(value)
        except ValueError:
            raise ConfigError(
                "--threshold", f"expected METRIC=FRACTION (e.g. time_to_first_token-p90=0.05), got {item!r}"
            ) from None
    return thresholds


def _suite_folder(path: Path) -> str:
    """``<results root>/<suite name>`` of a suite file (its ``results``, else the default root)."""
    from llmeter_core.spec import read_yaml

    from .params import expand_env

    data = read_yaml(path, "ROOT_OR_SUITE")
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ConfigError("ROOT_OR_SUITE", f"{path}: not a suite file (no name)")
    results = expand_env(data.get("results")) if data.get("results") else None
    return f"{results_root(results)}/{slug(data['name'], 'sweep')}"


def _resolve_history_target(target: str) -> str:
    """A path or URL as given; a suite file; else a suite name under the results root."""
    if target.endswith((".yaml", ".yml")) and Path(target).expanduser().is_file():
        return _suite_folder(Path(target).expanduser())
    if "://" in target or Path(target).expanduser().exists():
        return target if "://" in target else str(Path(target).expanduser().resolve())
    if "/" not in target:
        candidate = f"{results_root()}/{slug(target)}"
        if "://" in candidate or Path(candidate).exists():
            return candidate
    raise ConfigError("ROOT_OR_SUITE", f"no folder {target!r} (nor a suite of that name under {results_root()})")


def _ms(value: Any) -> str:
    return f"{value * 1000:,.0f}" if isinstance(value, (int, float)) and value == value else "-"


def _num(value: Any, digits: int = 0) -> str:
    return f"{value:,.{digits}f}" if isinstance(value, (int, float)) and value == value else "-"


def history_table(frame: Any, title: str) -> Table:
    table = Table(title=f"{title} (latencies in ms, times UTC)")
    for column in (
        "started",
        "suite",
        "endpoint",
        "load",
        "requests",
        "failed",
        "TTFT p50",
        "TTFT p90",
        "TTFT p99",
        "TTLT p90",
        "req/min",
        "out tok/s",
        "config",
        "run",
    ):
        table.add_column(
            column, justify="left" if column in ("started", "suite", "endpoint", "config", "run") else "right"
        )
    for row in frame.to_dict("records"):
        started = row["start_time"]
        load = (
            f"{row['rate']:g}/s"
            if isinstance(row.get("rate"), float) and row["rate"] == row["rate"]
            else f"{_num(row.get('clients'))} cl"
        )
        table.add_row(
            started.strftime("%Y-%m-%d %H:%M") if hasattr(started, "strftime") else "-",
            str(row.get("suite") or "-"),
            str(row.get("endpoint") or "-"),
            load,
            _num(row.get("total_requests")),
            _num(row.get("failed_requests")),
            _ms(row.get("time_to_first_token-p50")),
            _ms(row.get("time_to_first_token-p90")),
            _ms(row.get("time_to_first_token-p99")),
            _ms(row.get("time_to_last_token-p90")),
            _num(row.get("requests_per_minute"), 1),
            _num(row.get("output_tps"), 1),
            str(row.get("config_hash") or "-")[:8],
            str(row.get("run_url") or "-").rsplit("/", 2)[-2] + "/" + str(row.get("run_name") or ""),
        )
    return table


def history(
    root_or_suite: str = typer.Argument(
        ...,
        metavar="ROOT_OR_SUITE",
        help="Results root, suite folder (<root>/<suite>), history folder, suite file, or suite name",
    ),
    endpoint: Optional[str] = typer.Option(None, "--endpoint", help="Only this endpoint label"),
    since: Optional[str] = typer.Option(None, "--since", help="Only runs started on or after this date (YYYY-MM-DD)"),
    csv: Optional[str] = typer.Option(None, "--csv", help="Also write every column to this CSV file (path or URL)"),
) -> None:
    """Print the run history of a suite (or of every suite under a results root)."""
    from llmeter_core.history import read_history

    try:
        target = _resolve_history_target(root_or_suite)
        frame = read_history(target, endpoint=endpoint, since=parse_since(since))
    except ConfigError as exc:
        _fail(exc)
    if frame.empty:
        out.print(f"no history rows in {target}" + (" matching the filters" if endpoint or since else ""))
    else:
        out.print(history_table(frame, f"History of {target}"))
        out.print(f"{len(frame)} runs")
    if csv:
        frame.to_csv(csv, index=False)
        out.print(f"csv: {csv}")


def _comparison_table(c: Any) -> Table:
    from llmeter_core.compare_format import metric_cells

    table = Table(title=f"{c.endpoint} at {c.point}: {c.verdict}", title_justify="left")
    for column in ("metric", "baseline", "candidate", "change", f"{c.confidence * 100:g}% CI", "threshold", "verdict"):
        table.add_column(column, justify="left" if column in ("metric", "verdict") else "right")
    for m in c.metrics:
        style = _VERDICT_STYLE.get(m.verdict, "")
        table.add_row(*metric_cells(m), style=style or None)
    return table


def _write(path: str, text: str) -> None:
    import fsspec

    if "://" not in path:
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
    with fsspec.open(path, "w") as handle:
        handle.write(text)


def compare(
    baseline: str = typer.Argument(..., help="Baseline run folder or sweep folder (local path or s3://...)"),
    candidate: str = typer.Argument(..., help="Candidate run folder or sweep folder"),
    json_file: Optional[str] = typer.Option(None, "--json", help="Write the full comparison as JSON to this file"),
    markdown: Optional[str] = typer.Option(None, "--markdown", help="Write the comparison as markdown to this file"),
    force: bool = typer.Option(
        False, "--force", help="Compare runs whose settings differ (the report lists what differs)"
    ),
    threshold: list[str] = typer.Option(
        [],
        "--threshold",
        help="METRIC=FRACTION, e.g. time_to_first_token-p90=0.05 "
        "(a key, a family such as time_to_first_token, or default); repeatable",
    ),
    confidence: float = typer.Option(0.99, "--confidence", help="Confidence of the significance test"),
    seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap"),
) -> None:
    """Compare a candidate with a baseline, metric by metric; exit 1 when anything regressed."""
    import orjson

    from llmeter_core.compare import CompareSettings
    from llmeter_core.compare_folders import compare_folders
    from llmeter_core.compare_format import report_markdown

    try:
        settings = CompareSettings.build(
            parse_thresholds(threshold),
            confidence,
            seed=seed,
            threshold_field="--threshold {key}",
            confidence_field="--confidence",
        )
        report = compare_folders(baseline, candidate, settings, force=force)
    except ConfigError as exc:
        _fail(exc)
    for c in report.comparisons:
        out.print(_comparison_table(c))
        for kind, count in sorted(c.new_error_types.items()):
            out.print(f"  [bold red]new error type[/bold red] {kind}: {count}")
        for d in c.differences:
            out.print(f"  [yellow]differs[/yellow] {d['field']}: {d['baseline']} -> {d['candidate']}")
    for name in report.missing:
        out.print(f"[bold red]missing in the candidate[/bold red]: {name}")
    for name in report.new:
        out.print(f"only in the candidate (not compared): {name}")
    style = _VERDICT_STYLE.get(report.verdict) or "bold"
    out.print(f"[{style}]{report.verdict}[/{style}]: {report.headline()}", highlight=False)
    if json_file:
        _write(
            json_file, orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY).decode()
        )
    if markdown:
        _write(markdown, report_markdown(report))
    raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``history`` and ``compare`` to the console app."""
    app.command("history")(history)
    app.command("compare")(compare)
