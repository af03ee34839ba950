"""Live metrics in the Prefect UI: a LiveSnapshot sink that updates artifacts in place.

Every ``live_interval`` the runner hands a snapshot to ``PrefectLiveSink``, which

- updates a keyed *progress* artifact (by requests for a count bound, by elapsed time for a
  duration bound: the snapshot's ``progress``),
- updates a *live-metrics* markdown artifact (throughput, TTFT/TTLT p50/p90/p99, tokens,
  errors) through the client's ``update_artifact``, so the run page keeps one artifact
  rather than one version per interval,
- writes one log line (logs stream live in the UI; artifacts show on a page reload).

Both artifacts are created before the first request, so they are on the run page from the
start. The sink is async: the runner awaits it in its ticker task, off the clients' path.
A failed update is logged and skipped (the runner also guards sinks): the UI lagging must
never end a load run.
"""

from __future__ import annotations

import logging
from typing import Any
from uuid import UUID

from prefect.artifacts import acreate_markdown_artifact, acreate_progress_artifact, aupdate_progress_artifact
from prefect.client.schemas.actions import ArtifactUpdate

from llmeter_core.live import LiveSnapshot

from .artifacts import artifact_key, live_log_line, live_markdown

__all__ = ["PrefectLiveSink"]


class PrefectLiveSink:
    """Publishes snapshots of one run to Prefect. Call ``await start()`` before the run."""

    def __init__(self, key_prefix: str, run_name: str, client: Any, logger: logging.Logger | logging.LoggerAdapter):
        self.progress_key = artifact_key(key_prefix, "progress")
        self.live_key = artifact_key(key_prefix, "live")
        self.run_name = run_name
        self.client = client
        self.logger = logger
        self.progress_id: UUID | None = None
        self.live_id: UUID | None = None
        self.updates = 0

    async def start(self) -> None:
        """Create the progress and live-metrics artifacts at 0 %."""
        self.progress_id = await acreate_progress_artifact(
            0.0, key=self.progress_key, description=f"Progress of load run {self.run_name}"
        )
        self.live_id = await acreate_markdown_artifact(
            f"### {self.run_name}: starting\n\nThe first live metrics arrive after one live interval.\n",
            key=self.live_key,
            description=f"Live metrics of load run {self.run_name} (reload the page to refresh)",
        )

    async def __call__(self, snapshot: LiveSnapshot) -> None:
        percent = round(100.0 * max(0.0, min(1.0, snapshot.progress)), 1)
        try:
            if self.progress_id is not None:
                await aupdate_progress_artifact(self.progress_id, percent, client=self.client)
            if self.live_id is not None:
                await self.client.update_artifact(self.live_id, ArtifactUpdate(data=live_markdown(snapshot)))
            self.updates += 1
        except Exception as exc:  # the UI lagging must not end a run
            self.logger.warning("live artifact update failed (the run goes on): %s", exc)
        if not snapshot.final:
            self.logger.info(live_log_line(snapshot))
