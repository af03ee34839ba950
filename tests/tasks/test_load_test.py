"""run_load_test through Prefect: the run folder, the summary, and the artifacts read back.

Short runs against the session emulator (TTFT ~15 ms) under the one session test harness.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Callable

import fsspec
import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

from llmeter_core.results import Result
from llmeter_core.spec import RunSpec
from tasks import attempt_run_name, run_load_test
from tasks.live import PrefectLiveSink
from tasks.load_test import backstop_seconds

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _spec(emulator_url: str, output: str, run_name: str, **load) -> RunSpec:
    return RunSpec(
        run_name=run_name,
        output=output,
        endpoint={"type": "openai-chat", "model": "emulator-model", "base_url": emulator_url},
        load=load or {"clients": 2, "n_requests": 4},
        payloads={"prompts": ["hello there", "write a poem"], "max_tokens": 12},
        live_interval=0.3,
    )


@flow
async def one_run(spec: RunSpec, prefix: str) -> dict:
    return await run_load_test(spec, artifact_prefix=prefix, endpoint_label="emu")


async def _artifacts(*keys: str) -> dict[str, list]:
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=list(keys))))
    out: dict[str, list] = {key: [] for key in keys}
    for artifact in found:
        out[artifact.key].append(artifact)
    return out


def test_attempt_names_never_share_a_folder():
    assert attempt_run_name("00004-clients", 1) == "00004-clients"
    assert attempt_run_name("00004-clients", 2) == "00004-clients-attempt2"
    assert attempt_run_name("00004-clients", 0) == "00004-clients"


def test_backstop_only_for_duration_bound_runs(emulator_url):
    assert backstop_seconds(_spec(emulator_url, "/x", "r")) is None
    spec = _spec(emulator_url, "/x", "r", run_duration=10, grace_period=5, timeout=20)
    assert backstop_seconds(spec, margin_s=100) == 135


async def test_run_on_s3_returns_a_small_summary_and_final_artifacts(emulator_url, s3_results):
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    summary = await one_run(_spec(emulator_url, f"{s3_results}/runs", "00002-clients"), prefix)

    assert summary["run_url"] == f"{s3_results}/runs/00002-clients"
    assert summary["stats_url"] == f"{s3_results}/runs/00002-clients/stats.json"
    assert summary["total_requests"] == 8 and summary["interrupted"] is False
    assert summary["endpoint"] == "emu" and summary["clients"] == 2
    assert "responses" not in summary and len(json.dumps(summary)) < 8000
    assert summary["stats"]["time_to_first_token-p50"] > 0.01

    fs, root = fsspec.core.url_to_fs(summary["run_url"])
    names = {path.rsplit("/", 1)[-1] for path in fs.ls(root, refresh=True)}
    assert {"run_config.json", "responses.jsonl", "summary.json", "stats.json"} <= names
    stats = json.loads(fs.cat(f"{root}/stats.json"))
    for key in (
        "time_to_first_token-p50",
        "time_to_last_token-p90",
        "requests_per_minute",
        "output_tps",
        "failed_requests",
    ):
        assert stats[key] is not None
    assert len(Result.load(summary["run_url"]).responses) == 8
    plots = {path.rsplit("/", 1)[-1] for path in fs.ls(f"{root}/plots", refresh=True)}
    assert plots == {"latency-heatmap-ttft.png", "latency-heatmap-ttlt.png", "ttft-histogram.png", "ttlt-histogram.png"}
    (charts,) = (await _artifacts(f"{prefix}-plots"))[f"{prefix}-plots"]
    assert charts.type == "markdown" and charts.data.count("data:image/png;base64,") == 4

    found = await _artifacts(f"{prefix}-metrics", f"{prefix}-stats", f"{prefix}-progress", f"{prefix}-live")
    (metrics,) = found[f"{prefix}-metrics"]
    assert metrics.type == "table"
    rows = {row["metric"]: row for row in json.loads(metrics.data)}
    assert rows["TTFT (ms)"]["p50"] == round(stats["time_to_first_token-p50"] * 1000, 2)  # stats.json: seconds
    assert "requests_per_minute" not in rows and f"{stats['requests_per_minute']:,.1f} req/min" in metrics.description
    assert "8 requests, 0 failed" in metrics.description
    (link,) = found[f"{prefix}-stats"]
    assert link.type == "markdown"  # Prefect stores a link artifact as markdown: [text](url)
    bucket, _, key = summary["stats_url"].removeprefix("s3://").partition("/")
    assert link.data == f"[{summary['stats_url']}](https://s3.console.aws.amazon.com/s3/object/{bucket}?prefix={key})"
    (progress,) = found[f"{prefix}-progress"]
    assert progress.type == "progress" and float(progress.data) == 100.0
    (live,) = found[f"{prefix}-live"]
    assert live.type == "markdown" and "00002-clients: finished" in live.data


async def _progress_events(prefix: str, final: bool) -> list:
    """The llmeter.run.progress events of one run, oldest first (sent in the background: poll
    until the final one is there)."""
    from prefect.events.filters import EventFilter, EventNameFilter, EventResourceFilter

    from tasks.live import PROGRESS_EVENT

    wanted = EventFilter(
        event=EventNameFilter(name=[PROGRESS_EVENT]), resource=EventResourceFilter(id=[f"llmeter.run.{prefix}"])
    )
    events: list = []
    async with get_client() as client:
        for _ in range(60):
            page = await client.read_events(filter=wanted, limit=50)
            events = sorted(page.events, key=lambda e: e.occurred)
            if events and (not final or events[-1].payload["final"]):
                break
            await asyncio.sleep(0.5)
    return events


def _in_place(seen: list[tuple[str, str, str]], kept: object, key: str, starting: Callable[[str], bool]) -> list[str]:
    """The contents the watcher saw of ``key``'s artifact, checked to be one artifact updated in
    place: from the first sight of the one kept (``kept``, the id left at the end) every sighting
    is of it. Before that only a starting artifact that ``below_reports`` made again for its id
    (``tasks/artifact_ids.py``, 1 in 8) may show, and only with its starting content."""
    sightings = [(i, d) for k, i, d in seen if k == key]
    ids = [i for i, _ in sightings]
    assert str(kept) in ids
    first = ids.index(str(kept))
    assert all(i == str(kept) for i in ids[first:])  # updated in place, never made again
    assert all(starting(d) for _, d in sightings[:first]), sightings[:first]  # only a remade start
    return [d for _, d in sightings[first:]]


async def test_live_artifacts_are_updated_in_place_while_the_run_goes(emulator_url, tmp_path):
    prefix = f"live-{uuid.uuid4().hex[:8]}"
    seen: list[tuple[str, str, str]] = []

    async def watch() -> None:
        while True:
            found = await _artifacts(f"{prefix}-progress", f"{prefix}-live")
            for key, artifacts in found.items():
                for artifact in artifacts:
                    seen.append((key, str(artifact.id), str(artifact.data)))
            await asyncio.sleep(0.15)

    watcher = asyncio.create_task(watch())
    try:
        summary = await one_run(_spec(emulator_url, str(tmp_path), "live-run", clients=2, run_duration=1.6), prefix)
    finally:
        watcher.cancel()
    assert summary["total_requests"] > 10

    final = await _artifacts(f"{prefix}-progress", f"{prefix}-live")
    assert len(final[f"{prefix}-progress"]) == 1 and len(final[f"{prefix}-live"]) == 1
    progress = _in_place(seen, final[f"{prefix}-progress"][0].id, f"{prefix}-progress", lambda d: float(d) == 0.0)
    live = _in_place(
        seen, final[f"{prefix}-live"][0].id, f"{prefix}-live", lambda d: d.startswith("### live-run: starting")
    )
    mid_run = [float(d) for d in progress if 0.0 < float(d) < 100.0]
    assert mid_run and mid_run == sorted(mid_run)  # by elapsed time, moving forward
    running = [d for d in live if "live-run: running" in d]
    assert len(set(running)) >= 2  # refreshed between two intervals
    assert float(final[f"{prefix}-progress"][0].data) == 100.0
    assert "live-run: finished" in final[f"{prefix}-live"][0].data
    events = await _progress_events(prefix, final=True)
    mid = [e.payload for e in events if not e.payload["final"]]
    assert mid and all(0.0 < p["progress"] < 1.0 for p in mid)  # the event feed moves during the run
    assert any(p["stats"]["requests_per_minute"] for p in mid) and events[-1].payload["final"] is True
    assert events[-1].payload["stats"]["total_requests"] == summary["total_requests"]
    (stats,) = (await _artifacts(f"{prefix}-stats"))[f"{prefix}-stats"]
    assert (
        stats.data == f"stats.json of load run live-run: `{summary['stats_url']}`"
    )  # a local path: text, no dead link


async def test_a_retry_writes_its_own_folder_and_never_touches_the_first(emulator_url, tmp_path):
    taken = tmp_path / "00001-clients"
    taken.mkdir()
    (taken / "stats.json").write_text('{"kept": true}')
    retrying = run_load_test.with_options(retries=1, retry_delay_seconds=0)

    @flow
    async def with_retry(spec: RunSpec) -> dict:
        return await retrying(spec, artifact_prefix=f"retry-{uuid.uuid4().hex[:8]}")

    summary = await with_retry(_spec(emulator_url, str(tmp_path), "00001-clients"))
    assert summary["run_name"] == "00001-clients-attempt2"
    assert (tmp_path / "00001-clients-attempt2" / "stats.json").exists()
    assert json.loads((taken / "stats.json").read_text()) == {"kept": True}
    assert sorted(p.name for p in taken.iterdir()) == ["stats.json"]


class _FakeClient:
    def __init__(self) -> None:
        self.updates: list = []

    async def update_artifact(self, artifact_id, artifact) -> None:
        self.updates.append((artifact_id, artifact.data))


class _ListLogger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def info(self, message, *args) -> None:
        self.lines.append(message % args if args else message)

    warning = info


async def test_sink_logs_one_line_per_interval_and_survives_a_failing_api():
    from llmeter_core.live import LiveSnapshot

    client, logger = _FakeClient(), _ListLogger()
    sink = PrefectLiveSink("p", "r", client, logger)
    sink.progress_id, sink.live_id = uuid.uuid4(), uuid.uuid4()
    snap = LiveSnapshot("r", 1.0, 5, 4, 1, 8, None, 0.5, {"requests_per_minute": 60.0})
    await sink(snap)
    await sink(LiveSnapshot("r", 2.0, 8, 8, 0, 8, None, 1.0, {}, final=True))
    assert len(logger.lines) == 1 and "4/8 done (50%)" in logger.lines[0]
    progress_update, live_update = client.updates[0], client.updates[1]
    assert progress_update == (sink.progress_id, 50.0)
    assert live_update[0] == sink.live_id and "**4/8** responses" in live_update[1]
    assert sink.updates == 2
    named = PrefectLiveSink("p", "r", client, logger, endpoint="small")
    await named(snap)
    assert logger.lines[-1].startswith("[small] r: 4/8 done")  # the run name alone does not say the endpoint

    async def broken(*args, **kwargs):
        raise RuntimeError("API down")

    client.update_artifact = broken
    await sink(snap)  # logged, not raised
    assert any("API down" in line for line in logger.lines)
