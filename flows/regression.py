"""The nightly verdict: every endpoint x load point of tonight compared with its baseline.

``judge_night`` lists what should have run (the suite's endpoints x client counts), finds
what did (the runs in tonight's folder), picks each run's baseline from the history
(``llmeter_core.baseline``) and compares them with the ``compare_runs`` task. A load point
that did not run, measured no request, or had every request fail is a failure of the
night, never "unchanged" (even on the first night, with no baseline).

``emit_regressions`` sends one Prefect event ``llmeter.regression.detected`` per regressed
endpoint x load point, for automations to notify on.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd
from prefect import get_run_logger
from prefect.events import emit_event
from prefect.runtime import flow_run

from llmeter_core.baseline import Baseline, BaselinePolicy, run_key, select_baseline
from llmeter_core.compare import CompareSettings, Comparison
from llmeter_core.compare_folders import headline
from llmeter_core.errors import ConfigError
from llmeter_core.history import history_row, read_history
from llmeter_core.samples import describe_point, find_runs
from tasks.compare import compare_runs

from .layout import slug
from .params import SuiteSpec, endpoint_label

__all__ = ["EVENT", "PointResult", "NightVerdict", "judge_night", "emit_regressions", "NightlyFailed", "flow_run_link"]

EVENT = "llmeter.regression.detected"


def flow_run_link() -> str | None:
    """This flow run's page in the UI, when a UI URL is known (not on the ephemeral API)."""
    url = flow_run.ui_url
    return url if isinstance(url, str) and url.startswith(("http://", "https://")) else None


class NightlyFailed(Exception):
    """A nightly that regressed (with ``on_regression: fail``) or whose runs did not run.

    The flow run ends Failed with this message; ``verdict`` holds the details.
    """

    def __init__(self, message: str, verdict: "NightVerdict | None" = None, flow_run_id: str | None = None):
        super().__init__(message)
        self.verdict = verdict
        self.flow_run_id = flow_run_id


@dataclass
class PointResult:
    """One endpoint x load point of tonight: ``compared``, ``no-baseline``, ``not-run`` or ``interrupted``."""

    endpoint: str
    clients: int | None
    rate: float | None = None
    status: str = "not-run"
    run_url: str | None = None
    row: dict[str, Any] | None = None
    baseline: Baseline | None = None
    comparison: Comparison | None = None
    note: str = ""

    @property
    def point(self) -> str:
        return describe_point(self.clients, self.rate)

    @property
    def verdict(self) -> str:
        if self.comparison is not None:
            return self.comparison.verdict
        return {"not-run": "did not run", "no-baseline": "no baseline", "interrupted": "interrupted"}.get(
            self.status, self.status
        )


@dataclass
class NightVerdict:
    suite: str
    folder: str
    policy: BaselinePolicy
    settings: CompareSettings
    points: list[PointResult] = field(default_factory=list)
    sweep_error: str | None = None

    @property
    def comparisons(self) -> list[Comparison]:
        return [p.comparison for p in self.points if p.comparison is not None]

    @property
    def regressed(self) -> list[PointResult]:
        return [p for p in self.points if p.comparison is not None and p.comparison.verdict == "regressed"]

    @property
    def not_run(self) -> list[PointResult]:
        return [p for p in self.points if p.status == "not-run"]

    @property
    def broken(self) -> bool:
        """The night itself failed: a load point did not run, or the sweep raised."""
        return bool(self.not_run or self.sweep_error)

    def headline(self) -> str:
        failures = [f"{p.endpoint} at {p.point} did not run" + (f" ({p.note})" if p.note else "") for p in self.not_run]
        text = headline(self.comparisons, failures)
        if self.sweep_error:
            text = f"the sweep failed ({self.sweep_error}); {text}"
        if not self.comparisons and not self.broken:
            waiting = sum(p.status == "no-baseline" for p in self.points)
            text = (
                f"no baseline yet for {waiting} of {len(self.points)} load points: "
                "nothing to compare (history recorded)"
            )
        return text


def expected_points(suite: SuiteSpec) -> list[tuple[str, int]]:
    """What the suite says should run tonight: (endpoint label, clients), in suite order."""
    return [(endpoint_label(e), c) for e in suite.endpoints for c in suite.clients]


def _tonight(folder: str, summaries: list[dict[str, Any]] | None) -> dict[tuple[str, int | None], str]:
    """(endpoint, clients) -> run URL of every run tonight: from the sweep's own summaries,
    else (the sweep failed midway) from the folder itself."""
    if summaries is not None:
        return {(s["endpoint"], s["clients"]): s["run_url"] for s in summaries}
    try:
        _, urls = find_runs(folder)
    except ConfigError:
        return {}
    found: dict[tuple[str, int | None], str] = {}
    for url in urls:
        endpoint, clients, _, _ = run_key(url)
        found[(str(endpoint), clients)] = url
    return found


async def judge_night(
    suite: SuiteSpec,
    folder: str,
    history_folder: str,
    policy: BaselinePolicy,
    settings: CompareSettings,
    summaries: list[dict[str, Any]] | None,
    sweep_error: str | None = None,
) -> tuple[NightVerdict, pd.DataFrame]:
    """Compare every run of tonight with its baseline; returns the verdict and the history."""
    logger = get_run_logger()
    verdict = NightVerdict(suite.name, folder, policy, settings, sweep_error=sweep_error)
    tonight = await asyncio.to_thread(_tonight, folder, summaries)
    history = await asyncio.to_thread(read_history, history_folder)
    for endpoint, clients in expected_points(suite):
        point = PointResult(endpoint, clients)
        verdict.points.append(point)
        url = tonight.get((endpoint, clients))
        if url is None:
            point.note = "no run folder"
            continue
        point.run_url = url
        point.row = await asyncio.to_thread(history_row, url, suite.name, endpoint)
        if not point.row.get("total_requests"):
            point.note = "no request measured"
            continue
        if point.row.get("failed_requests") == point.row["total_requests"]:
            kinds = ", ".join(sorted(orjson.loads(point.row.get("errors") or "{}"))) or "unknown"
            point.note = f"every request failed: {kinds}"
            continue
        if point.row.get("interrupted"):
            point.status = "interrupted"
            continue
        point.baseline = await asyncio.to_thread(select_baseline, history, policy, point.row, folder)
        if not point.baseline.urls:
            point.status, point.note = "no-baseline", point.baseline.note
            continue
        report = await compare_runs(point.baseline.urls, url, settings, force=False)
        point.status, point.comparison = "compared", report.comparisons[0]
        logger.info("%s at %s: %s against %s", endpoint, point.point, point.comparison.verdict, point.baseline.note)
    return verdict, history


def _worst(c: Comparison) -> tuple[str, float | None]:
    """The regressed metric that moved most, for the event's top-level fields."""
    if not c.regressions:
        kind = next(iter(sorted(c.new_error_types)), "errors")
        return f"new error type {kind}", None
    worst = max(c.regressions, key=lambda m: abs(m.change or 0.0))
    return worst.metric, worst.change


def emit_regressions(verdict: NightVerdict) -> list[Any]:
    """One ``llmeter.regression.detected`` event per regressed endpoint x load point."""
    events = []
    flow_run_url = flow_run_link()
    for point in verdict.regressed:
        c = point.comparison
        assert c is not None
        metric, change = _worst(c)
        findings = c.findings()
        summary = f"{verdict.suite}: {point.endpoint} at {point.point}: " + ", ".join(findings)
        events.append(
            emit_event(
                event=EVENT,
                resource={
                    "prefect.resource.id": f"llmeter.endpoint.{slug(verdict.suite)}.{slug(point.endpoint)}",
                    "prefect.resource.name": f"{verdict.suite} / {point.endpoint}",
                    "llmeter.suite": verdict.suite,
                    "llmeter.endpoint": point.endpoint,
                },
                payload={
                    "suite": verdict.suite,
                    "endpoint": point.endpoint,
                    "load_point": point.point,
                    "clients": point.clients,
                    "rate": point.rate,
                    "metric": metric,
                    "change": change,
                    "summary": summary,
                    "regressions": [
                        {
                            "metric": m.metric,
                            "baseline": m.baseline,
                            "candidate": m.candidate,
                            "change": m.change,
                            "ci_low": m.ci_low,
                            "ci_high": m.ci_high,
                            "threshold": m.threshold,
                        }
                        for m in c.regressions
                    ],
                    "new_error_types": c.new_error_types,
                    "candidate_run_url": c.candidate_url,
                    "baseline_run_urls": c.baseline_urls,
                    "night_folder": verdict.folder,
                    "flow_run_url": flow_run_url,
                },
            )
        )
    return events
