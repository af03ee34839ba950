"""An open-loop run asked for more than its endpoint or its machine can take: in flight stays
within the cap, held sends queue in order without tasks of their own, and what the server
never saw is counted as unsent, never as a recorded request."""

from __future__ import annotations

import asyncio
import resource

import numpy as np
import pytest

from llmeter_core import Runner, create_endpoint, openloop
from llmeter_core.clock import now_ns
from llmeter_core.emulator import EmulatorThread
from llmeter_core.openloop import OpenLoop, default_max_concurrency
from llmeter_core.schedule import Schedule

PAYLOAD = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 4}


def _endpoint(url: str, **options):
    return create_endpoint("openai-chat", model_id="m", base_url=url + "/v1", stream=True, **options)


@pytest.mark.parametrize("end_mode", ["drain", "cancel"])
def test_held_sends_are_unsent_and_every_recorded_request_is_one_the_server_saw(end_mode):
    """60 req/s for 2 s (120 sends, constant) against 3 slots of 100 ms (30 req/s): about half
    wait at the cap; those still held at the end were never sent."""
    with EmulatorThread("openai", ttft_ms=100, itl_ms=0, output_tokens=1) as emu:
        result = Runner(
            _endpoint(emu.url), PAYLOAD, rate=60.0, max_concurrency=3, run_duration=2.0, end_mode=end_mode
        ).run_sync()
        served = emu.stats()
    stats = result.stats
    assert served["max_in_flight"] <= 3 and stats["max_in_flight"] == 3 == stats["max_concurrency"]
    assert result.total_requests == served["requests"]  # cancelled in flight: seen, so recorded
    assert stats["unsent_requests"] >= 40  # ~60 held at the end
    assert result.total_requests + stats["unsent_requests"] == 120  # every send of the schedule
    if end_mode == "drain":
        assert stats["incomplete_requests"] == 0
    held = sorted(r.scheduled_time for r in result.responses)
    sent = sorted(result.responses, key=lambda r: r.request_time)
    assert [r.scheduled_time for r in sent] == held  # held sends leave in their schedule's order
    assert "the cap" in (stats["client_bound_reason"] or "")


def test_without_max_concurrency_the_default_cap_bounds_what_is_in_flight(monkeypatch):
    monkeypatch.setattr(openloop, "DEFAULT_MAX_CONCURRENCY", 4)
    with EmulatorThread("openai", ttft_ms=100, itl_ms=0, output_tokens=1) as emu:
        result = Runner(_endpoint(emu.url), PAYLOAD, rate=100.0, run_duration=1.0).run_sync()
        served = emu.stats()
    assert served["max_in_flight"] <= 4 and result.stats["max_concurrency"] == 4
    assert result.total_requests == served["requests"] and result.stats["unsent_requests"] > 0
    assert result.stats["client_bound"] is True and "load.max_concurrency" in result.stats["client_bound_reason"]


def test_the_default_cap_leaves_room_under_the_open_file_limit():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # macOS's default
        assert default_max_concurrency() == 256 - openloop.FD_RESERVE
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 100_000), hard))
        assert default_max_concurrency() == min(openloop.DEFAULT_MAX_CONCURRENCY, min(hard, 100_000) - 64)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_closed_loop_client_still_waiting_for_a_connection_at_a_cancel_is_unsent():
    """8 clients share 2 connections (max_connections): at the cancel 2 requests are on the
    wire (recorded, incomplete) and 6 wait for a connection (never written: unsent)."""
    with EmulatorThread("openai", ttft_ms=400, itl_ms=0, output_tokens=1) as emu:
        endpoint = _endpoint(emu.url, max_connections=2)
        result = Runner(endpoint, PAYLOAD, clients=8, run_duration=0.6, end_mode="cancel").run_sync()
        served = emu.stats()["requests"]
    assert result.total_requests == served  # 2 completed at 0.4 s, 2 more cut off at 0.6 s
    assert result.stats["incomplete_requests"] == 2
    assert result.stats["unsent_requests"] == 6
    assert all(r.error_type != "unsent" for r in result.responses)


async def test_held_sends_have_no_task_until_a_slot_frees_and_overdue_ones_count_as_unsent():
    """10,000 sends/s for 0.3 s with a cap of 5 and sends that never end on their own: the
    dispatcher holds the rest without a task each (flat memory far behind schedule)."""
    release = asyncio.Event()

    async def send(payload, due_ns):
        await release.wait()
        return True

    stopping = False
    loop = OpenLoop(
        Schedule(rate=10_000.0, duration_s=0.3), iter(lambda: {}, None), send, lambda: stopping, max_concurrency=5
    )
    runner = asyncio.create_task(loop.run())
    await asyncio.sleep(0.2)
    assert len(loop._tasks) == 5 and loop.in_flight == 5
    tasks_now = len(asyncio.all_tasks())
    await asyncio.sleep(0.05)
    assert len(asyncio.all_tasks()) == tasks_now  # sends fall due; no task is made for them
    offsets = Schedule(rate=10_000.0, duration_s=0.3).offsets()
    before = int(np.searchsorted(offsets, now_ns() - loop.start_ns, side="right"))
    stopping = True
    release.set()
    await runner
    after = int(np.searchsorted(offsets, now_ns() - loop.start_ns, side="right"))
    assert loop.scheduled == loop.sent == 5  # only the five ever had a task
    assert before <= loop.sent + loop.unsent <= after  # the rest that was due is unsent
    assert before > 1000
