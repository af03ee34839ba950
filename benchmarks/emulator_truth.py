"""The emulator's ground truth of each request a benchmark sent, read over its HTTP API
(``GET /emulator/requests/{id}``): the one place the streaming and engine benchmarks fetch it."""

from __future__ import annotations

from typing import Any

import aiohttp


async def truth_records(base_url: str, request_ids: list[str]) -> dict[str, dict[str, Any]]:
    """Each request's ground-truth record (``first_token_ms``, ``started_s``, ``read_s``...)
    by request id, from the emulator at ``base_url`` (its ``/v1`` URL or its root)."""
    root = base_url.rsplit("/v1", 1)[0]
    records: dict[str, dict[str, Any]] = {}
    async with aiohttp.ClientSession() as session:
        for request_id in request_ids:
            async with session.get(f"{root}/emulator/requests/{request_id}") as response:
                response.raise_for_status()
                records[request_id] = await response.json()
    return records
