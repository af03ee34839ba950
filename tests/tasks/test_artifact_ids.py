"""Artifact ids: the project's artifacts keep ids below the reports' range, a report takes one
in it, so a flow's report sorts first in a few tries however many runs the flow made."""

from __future__ import annotations

from uuid import UUID

import pytest
from prefect import flow
from prefect.artifacts import acreate_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterId
from prefect.runtime import flow_run

import flows.report as report
from tasks.artifact_ids import REPORT_FLOOR, below_reports, is_report_id

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_the_range_is_split_where_the_server_sorts():
    assert is_report_id("e0000000-0000-4000-8000-000000000000") and is_report_id(UUID(int=2**128 - 1))
    assert not is_report_id("dfffffff-ffff-4fff-bfff-ffffffffffff") and not is_report_id(UUID(int=0))
    assert REPORT_FLOOR == "e"  # 7 ids in 8 stay below: one extra try in 7 for a task's artifact


async def test_an_id_in_the_reports_range_is_deleted_and_made_again():
    @flow
    async def candidates() -> tuple[list[UUID], UUID, UUID]:
        # real artifacts, two in the reports' range and one below it, handed out in that order
        high: list[UUID] = []
        low: UUID | None = None
        while len(high) < 2 or low is None:
            made = await acreate_markdown_artifact("candidate")
            if is_report_id(made) and len(high) < 2:
                high.append(made)
            elif not is_report_id(made) and low is None:
                low = made
        handed = iter([*high, low])

        async def create() -> UUID:
            return next(handed)

        return high, low, await below_reports(create)

    high, low, kept = await candidates()
    assert kept == low
    async with get_client() as client:
        found = await client.read_artifacts(artifact_filter=ArtifactFilter(id=ArtifactFilterId(any_=[*high, low])))
    assert [a.id for a in found] == [low]  # both in the range were deleted


async def test_a_report_lands_above_many_artifacts_in_a_few_tries(monkeypatch):
    tries = []
    real = report.acreate_markdown_artifact

    async def counted(*args, **kwargs):
        tries.append(1)
        return await real(*args, **kwargs)

    monkeypatch.setattr(report, "acreate_markdown_artifact", counted)

    @flow
    async def many_runs() -> tuple[str, UUID]:
        for n in range(40):
            await below_reports(lambda n=n: acreate_markdown_artifact(f"run {n}", key=f"run-{n}-metrics"))
        return str(flow_run.id), await report.publish_report("# Report", key="many-report", description="report")

    run_id, report_id = await many_runs()
    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(run_id)]))
        )
    by_id = sorted(artifacts, key=lambda a: str(a.id), reverse=True)  # the v2 page's order
    assert len(by_id) == 41 and by_id[0].id == report_id and by_id[0].data == "# Report" and is_report_id(report_id)
    assert not any(is_report_id(a.id) for a in by_id[1:])
    # 1 in 8 qualifies: more than 100 tries has a chance of 2e-6; beating 40 random ids took
    # 41 on average, and more than 100 had a chance of 9 %
    assert len(tries) <= 100
