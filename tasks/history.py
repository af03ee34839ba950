"""``record_history``: add a finished run's row to its suite's history dataset.

An I/O task, so it retries (a retry can at worst write the row twice; readers keep one row
per run). The row is built from the run folder itself (``llmeter_core.history``), so what
the history says is what the folder holds.
"""

from __future__ import annotations

import asyncio

from prefect import task
from prefect.runtime import flow_run

from llmeter_core.history import append_row, history_row

__all__ = ["record_history"]


@task(name="record-history", retries=3, retry_delay_seconds=[1, 4, 10], task_run_name="history-{endpoint}-{suite}")
async def record_history(run_url: str, suite: str, history: str, endpoint: str | None = None) -> str:
    """Write the history row of ``run_url`` into the folder ``history``; returns the file URL."""

    def write() -> str:
        return append_row(history, history_row(run_url, suite, endpoint, flow_run_id=str(flow_run.id or "") or None))

    return await asyncio.to_thread(write)
