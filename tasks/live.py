"""Live metrics in the Prefect UI: a LiveSnapshot sink that updates artifacts in place.

Every ``live_interval`` the runner hands a snapshot to ``PrefectLiveSink``, which

- updates a keyed *progress* artifact (by requests for a count bound, by elapsed time for a
  duration bound: the snapshot's ``progress``),
- updates a *live-metrics* markdown artifact (throughput, TTFT/TTLT p50/p90/p99, tokens,
  errors) through the client's ``update_artifact``, so the run page keeps one artifact
  rather than one version per interval,
- emits a ``llmeter.run.progress`` event (``progress_event``: progress and key metrics in
  its payload), so the event feed moves during a run and an automation can react to a
  metric mid-run (an SLO breach) without waiting for the end,
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
from prefect.events import emit_event

from llmeter_core.live import LiveSnapshot

from .artifact_ids import below_reports
from .artifacts import artifact_key, live_log_line, live_markdown

__all__ = ["PrefectLiveSink", "PROGRESS_EVENT", "progress_event"]

#: The event emitted for every live snapshot of a run.
PROGRESS_EVENT = "llmeter.run.progress"

#: The stats of a snapshot an event carries (stats.json names and units).
_EVENT_STATS: tuple[str, ...] = (
    "total_requests",
    "failed_requests",
    "failed_requests_rate",
    "requests_per_minute",
    "output_tps",
    "time_to_first_token-p50",
    "time_to_first_token-p90",
    "time_to_first_token-p99",
    "time_to_last_token-p50",
    "time_to_last_token-p90",
    "time_to_last_token-p99",
)


def progress_event(snapshot: LiveSnapshot, key_prefix: str) -> dict[str, Any]:
    """The ``emit_event`` arguments of one snapshot: the run as the resource (its artifact
    key prefix is unique within a sweep), progress and the key metrics as the payload."""
    stats = {key: snapshot.stats.get(key) for key in _EVENT_STATS}
    return {
        "event": PROGRESS_EVENT,
        "resource": {
            "prefect.resource.id": f"llmeter.run.{key_prefix}",
            "prefect.resource.name": snapshot.run_name,
            "llmeter.run": snapshot.run_name,
        },
        "payload": {
            "run_name": snapshot.run_name,
            "progress": round(max(0.0, min(1.0, snapshot.progress)), 4),
            "elapsed_s": round(snapshot.elapsed_s, 3),
            "requests_sent": snapshot.requests_sent,
            "responses_done": snapshot.responses_done,
            "in_flight": snapshot.in_flight,
            "final": snapshot.final,
            "interrupted": snapshot.interrupted,
            "stats": {k: v for k, v in stats.items() if isinstance(v, (int, float)) or v is None},
        },
    }


class PrefectLiveSink:
    """Publishes snapshots of one run to Prefect. Call ``await start()`` before the run."""

    def __init__(
        self,
        key_prefix: str,
        run_name: str,
        client: Any,
        logger: logging.Logger | logging.LoggerAdapter,
        endpoint: str | None = None,
    ):
        self.endpoint = endpoint  # named in each log line: a run name alone does not say it
        self.progress_key = artifact_key(key_prefix, "progress")
        self.live_key = artifact_key(key_prefix, "live")
        self.run_name = run_name
        self.client = client
        self.logger = logger
        self.key_prefix = key_prefix
        self.progress_id: UUID | None = None
        self.live_id: UUID | None = None
        self.updates = 0

    async def start(self) -> None:
        """Create the progress and live-metrics artifacts at 0 %."""
        self.progress_id = await below_reports(
            lambda: acreate_progress_artifact(
                0.0, key=self.progress_key, description=f"Progress of load run {self.run_name}"
            )
        )
        self.live_id = await below_reports(
            lambda: acreate_markdown_artifact(
                f"### {self.run_name}: starting\n\nThe first live metrics arrive after one live interval.\n",
                key=self.live_key,
                description=f"Live metrics of load run {self.run_name} (reload the page to refresh)",
            )
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
        try:
            emit_event(**progress_event(snapshot, self.key_prefix))  # queued: sent by Prefect's events worker
        except Exception as exc:  # noqa: BLE001 - an event lost is not a run lost
            self.logger.warning("progress event not emitted (the run goes on): %s", exc)
        if not snapshot.final:
            line = live_log_line(snapshot)
            self.logger.info(f"[{self.endpoint}] {line}" if self.endpoint else line)
