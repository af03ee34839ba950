"""``nightly_benchmark``: run a suite into one dated folder, then compare it with its baseline.

Scheduled every night by the ``nightly-benchmark`` deployment (``deployments/prefect.yaml``).
Each night is ``<results>/<suite name>/<date-time>/``: the runs of every endpoint, their
sweep summaries and charts, and the cross-model comparison (see ``model_sweep``); every run
also adds its row to ``<results>/<suite name>/history/``. The suite file is read when the
flow runs, so editing it changes the next night without redeploying.

Then every endpoint x load point is compared with its baseline (``regression.py``) and the
"nightly report" artifact, created first thing, gets the verdict, the tables and the trend
charts (``nightly_report.py``). The flow run ends:

- **Failed** when a load point did not run (or the sweep raised), whatever ``on_regression``;
- **Failed** with the regressions named when something regressed and ``on_regression`` is
  ``fail`` (the default); with ``warn`` it completes and logs a warning;
- Completed otherwise (including the first night, which has no baseline yet).

Every regression also emits a ``llmeter.regression.detected`` event (see the README for an
automation that notifies on it). A suite with an ``emulator:`` section gets that emulator
started for the length of the runs (``suite_emulator.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.states import Failed

from llmeter_core.baseline import BaselinePolicy
from llmeter_core.errors import ConfigError
from llmeter_core.history import history_url
from llmeter_core.samples import find_runs
from tasks.interrupts import stop_on_signals, stop_requested

from .layout import results_root, slug, sweep_folder
from .model_sweep import model_sweep
from .nightly_report import finish_report, start_report
from .params import check_plan
from .regression import NightlyFailed, emit_regressions, flow_run_link, judge_night
from .suite_emulator import suite_with_emulator

__all__ = ["nightly_benchmark", "resolve_suite", "SUITES_DIR", "NightlyFailed"]

#: Where the suite files of this repository live; a bare suite name is looked up here.
SUITES_DIR = Path(__file__).resolve().parent.parent / "deployments" / "suites"


def resolve_suite(suite: str) -> Path:
    """A suite path as given (absolute or relative to the working directory), else the file
    of that name in ``deployments/suites/`` (``demo`` or ``demo.yaml``)."""
    given = Path(suite).expanduser()
    candidates = [given]
    if not given.is_absolute():
        candidates += [SUITES_DIR / given, SUITES_DIR / f"{suite}.yaml"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    known = ", ".join(sorted(p.stem for p in SUITES_DIR.glob("*.yaml"))) or "none"
    raise ConfigError(
        "suite", f"no suite file {suite!r} (looked in the working directory and {SUITES_DIR}; known: {known})"
    )


@flow(name="nightly-benchmark", log_prints=False)
async def nightly_benchmark(suite: str = "demo", results: str | None = None) -> Any:
    """Run every endpoint of a suite file over its load plan into one dated folder, then
    compare each endpoint and load point with its baseline.

    Args:
        suite: Suite file: a path on the machine running the flow, or a name in
            deployments/suites (demo, openai-compatible, ...).
        results: Results root (local path or s3://bucket/prefix); default the suite's
            `results`, else $LLMETER_RESULTS, else ./results.
    """
    with stop_on_signals():
        logger = get_run_logger()
        path = resolve_suite(suite)
        with suite_with_emulator(path) as (spec, emulator_url):
            if results:
                spec = spec.model_copy(update={"results": results})
            check_plan(spec)
            policy = BaselinePolicy.parse(spec.baseline)
            if policy.kind == "url":  # a pinned baseline that is not there: fail before any load
                try:
                    find_runs(policy.url or "")
                except ConfigError as exc:
                    raise ConfigError("baseline", exc.message) from None
            settings = spec.regression.settings()
            root = results_root(spec.results)
            folder = sweep_folder(root, spec.name)
            history = history_url(root, slug(spec.name, "sweep"))
            report_id = await start_report(spec.name, folder)
            if emulator_url:
                logger.info("started the suite's emulator at %s", emulator_url)
            logger.info("nightly benchmark %s (%s) -> %s", spec.name, path, folder)
            state = await model_sweep(spec, folder=folder, return_state=True)
        if stop_requested():
            logger.warning("nightly %s was stopped: not compared", spec.name)
            return await state.aresult(raise_on_failure=False) if state.is_completed() else state
        outcome: dict[str, Any] | None = await state.aresult() if state.is_completed() else None
        sweep_error = None if state.is_completed() else (state.message or state.name)
        verdict, past = await judge_night(
            spec, folder, history, policy, settings, outcome["runs"] if outcome else None, sweep_error
        )
        report = await finish_report(report_id, verdict, past, spec.on_regression, flow_run_link(), suite=spec.name)
        message = verdict.headline()
        if verdict.regressed:
            emit_regressions(verdict)
        result = {
            **(outcome or {}),
            "folder": folder,
            "history": history,
            "verdict": message,
            "report_charts": report["charts"],
            "report_html": report["html"],
            "points": [(p.endpoint, p.point, p.verdict) for p in verdict.points],
        }
        if verdict.broken or (verdict.regressed and spec.on_regression == "fail"):
            logger.error("nightly %s: %s", spec.name, message)
            return Failed(message=message, data=NightlyFailed(message, verdict, str(flow_run.id)))
        if verdict.regressed:
            logger.warning("nightly %s: %s (on_regression: warn)", spec.name, message)
        else:
            logger.info("nightly %s: %s", spec.name, message)
        return result
