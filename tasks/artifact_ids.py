"""Artifact ids, kept apart so a flow's report can sort first in a few tries.

The Prefect UI lists a flow run's artifacts by id, highest first (``ID_DESC``), and the server
gives each artifact a random uuid4. A flow's report must be the first card
(``flows/report.py``), and an id above N random ones takes N + 1 tries on average: a 4-run
sweep (about 20 artifacts) took 34 create-and-delete round trips, 13 s, and one in CI ran past
300 s. So ids are split: every other artifact this project makes keeps an id below
``REPORT_FLOOR`` (7 ids in 8 qualify: about one extra try in 7), and a report takes one at or
above it (1 in 8: about 8 tries, however many runs the flow made). The report still checks
against the flow run's real top id, so an artifact made some other way costs tries, never the
order.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable
from uuid import UUID

from prefect.client.orchestration import get_client

__all__ = ["REPORT_FLOOR", "MAX_TRIES", "below_reports", "is_report_id", "made_until"]

#: Ids from here up (as text, which is how the server sorts them) are the reports' own.
REPORT_FLOOR = "e"
#: Most tries ``below_reports`` makes before it keeps the id it has (the chance of needing
#: more is 8**-16).
MAX_TRIES = 16


def is_report_id(artifact_id: UUID | str) -> bool:
    """Whether an id is in the reports' range (at or above ``REPORT_FLOOR``)."""
    return str(artifact_id) >= REPORT_FLOOR


async def made_until(
    create: Callable[[], Awaitable[UUID]], wanted: Callable[[UUID], bool], tries: int, client: Any = None
) -> UUID:
    """Create an artifact with ``create`` (an ``acreate_*`` call) until ``wanted`` takes its id,
    deleting those it does not, at most ``tries`` times; returns the id kept (the last one
    made when none was wanted). ``client``: one to delete with (default: a new one, when needed)."""
    artifact_id = await create()
    for _ in range(tries - 1):
        if wanted(artifact_id):
            break
        if client is not None:
            await client.delete_artifact(artifact_id)
        else:
            async with get_client() as new_client:
                await new_client.delete_artifact(artifact_id)
        artifact_id = await create()
    return artifact_id


async def below_reports(create: Callable[[], Awaitable[UUID]]) -> UUID:
    """Create an artifact with ``create`` (an ``acreate_*`` call) until its id is below the
    reports' range, deleting those that are not; returns the id kept."""
    return await made_until(create, lambda artifact_id: not is_report_id(artifact_id), MAX_TRIES)
