"""``compare_runs``: the comparison behind ``llmeter-flows compare``, as a Prefect task.

The same code as the command (``llmeter_core.compare_folders``): two run folders, two sweep
folders, or a candidate run against several baseline runs (their median: a nightly's
``baseline: {last: N}``). It reads run folders and computes, it never sends load, so it may
retry. The CPU work (bootstrap) runs in a worker thread, off the flow's event loop.
"""

from __future__ import annotations

import asyncio
from typing import Any

from prefect import task

from llmeter_core.compare import CompareSettings, compare_samples
from llmeter_core.compare_folders import CompareReport, check_comparable, compare_folders
from llmeter_core.errors import ConfigError
from llmeter_core.samples import RunSamples

__all__ = ["compare_runs"]


def _compare(baseline: str | list[str], candidate: str, settings: CompareSettings, force: bool) -> CompareReport:
    if isinstance(baseline, str):
        return compare_folders(baseline, candidate, settings, force=force)
    runs = [RunSamples.load(url) for url in baseline]
    cand = RunSamples.load(candidate)
    diffs = check_comparable(runs, cand, force)
    comparison = compare_samples(runs, cand, settings, differences=diffs)
    label = baseline[0] if len(baseline) == 1 else f"median of {len(baseline)} runs"
    return CompareReport(label, candidate, [comparison], settings, forced=force)


def _retry_unless_bad_input(task: Any, task_run: Any, state: Any) -> bool:
    """Retry store errors; bad input (a missing folder, different settings) fails at once."""
    if isinstance(getattr(state, "data", None), ConfigError):
        return False
    return "ConfigError" not in (state.message or "")


@task(
    name="compare-runs",
    retries=2,
    retry_delay_seconds=[2, 10],
    retry_condition_fn=_retry_unless_bad_input,
    task_run_name="compare-{candidate}",
)
async def compare_runs(
    baseline: str | list[str],
    candidate: str,
    settings: CompareSettings | None = None,
    force: bool = False,
) -> CompareReport:
    """Compare ``candidate`` (a run or sweep folder) with ``baseline`` (a folder of the same
    kind, or a list of run folders whose median is the baseline). Raises ConfigError for
    runs that measured different things unless ``force``."""
    return await asyncio.to_thread(_compare, baseline, candidate, settings or CompareSettings(), force)
