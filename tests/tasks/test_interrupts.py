"""SIGTERM (a Prefect cancel) stops active runs within a second, then reaches Prefect.

These tests send real signals to this process. A recording handler stands in for Prefect's
SIGTERM bridge, so the deferred hand-over is observed instead of ending pytest.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from datetime import datetime, timezone

import pytest

from llmeter_core.results import Result
from llmeter_core.spec import RunSpec
from tasks import interrupts
from tasks.interrupts import RunRefused, stop_on_signals, stop_requested, tracking


@pytest.fixture
def recorded_sigterm():
    """SIGTERM handled by a recorder (as Prefect's bridge would be); restored afterwards."""
    calls: list[float] = []
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: calls.append(time.monotonic()))
    interrupts.reset()
    try:
        yield calls
    finally:
        signal.signal(signal.SIGTERM, previous)
        interrupts.reset()


def _wait(predicate, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class _Runner:
    def __init__(self) -> None:
        self.stops = 0

    def request_stop(self) -> None:
        self.stops += 1


def test_installs_rearms_after_a_replacement_and_restores(recorded_sigterm):
    original = signal.getsignal(signal.SIGTERM)
    other = lambda signum, frame: None  # noqa: E731 - e.g. Prefect re-arming its bridge for a subflow
    with stop_on_signals() as installed:
        assert installed and signal.getsignal(signal.SIGTERM) is interrupts._handle
        signal.signal(signal.SIGTERM, other)
        with stop_on_signals():
            assert signal.getsignal(signal.SIGTERM) is interrupts._handle
        assert signal.getsignal(signal.SIGTERM) is other
        signal.signal(signal.SIGTERM, interrupts._handle)
    assert signal.getsignal(signal.SIGTERM) is original


def test_without_active_runs_the_signal_goes_straight_to_the_previous_handler(recorded_sigterm):
    with stop_on_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        assert _wait(lambda: recorded_sigterm)
    assert len(recorded_sigterm) == 1 and stop_requested()


def test_active_runs_are_stopped_first_and_the_signal_is_handed_on_when_the_last_ends(recorded_sigterm):
    first, second = _Runner(), _Runner()
    with stop_on_signals():
        with tracking(first):
            with tracking(second):
                os.kill(os.getpid(), signal.SIGTERM)
                assert _wait(lambda: first.stops == 1 and second.stops == 1)
                assert not recorded_sigterm
            time.sleep(0.05)
            assert not recorded_sigterm  # `first` is still saving
        assert _wait(lambda: recorded_sigterm)
        with pytest.raises(RunRefused):
            with tracking(_Runner()):
                pass
    assert len(recorded_sigterm) == 1


def test_off_the_main_thread_nothing_is_installed():
    seen = []
    thread = threading.Thread(target=lambda: seen.append(stop_on_signals().__enter__()))
    thread.start()
    thread.join()
    assert seen == [False]


def test_sigterm_stops_a_real_run_in_another_thread_within_a_second(recorded_sigterm, emulator_url, tmp_path):
    """The task's event loop may not be the main thread's: the handler still reaches it."""
    spec = RunSpec(
        run_name="cancelled",
        output=str(tmp_path),
        endpoint={"type": "openai-chat", "model": "m", "base_url": emulator_url},
        load={"clients": 4, "run_duration": 30},
        payloads={"prompts": ["hello"], "max_tokens": 12},
        live_interval=0.2,
    )
    box: dict = {"done": 0}

    async def progress(snapshot) -> None:  # read on the run's own loop, never across threads
        box["done"] = snapshot.responses_done

    runner = spec.runner(handle_signals=False, live_sinks=[progress])

    def work() -> None:
        with tracking(runner):
            box["result"] = asyncio.run(runner.run())
            box["saved_at"] = time.monotonic()

    with stop_on_signals():
        thread = threading.Thread(target=work)
        thread.start()
        assert _wait(lambda: box["done"] >= 20)
        killed_at = datetime.now(timezone.utc)
        started = time.monotonic()
        os.kill(os.getpid(), signal.SIGTERM)
        thread.join(timeout=10)
        assert not thread.is_alive()
        assert time.monotonic() - started < 3.0
        assert _wait(lambda: recorded_sigterm)

    result = box["result"]
    assert result.interrupted
    last_sent = max(r.request_time for r in result.responses)
    assert (last_sent - killed_at).total_seconds() < 1.0
    assert recorded_sigterm[0] >= box["saved_at"]  # handed on only after the run was saved
    loaded = Result.load(str(tmp_path / "cancelled"))
    assert loaded.stats["interrupted"] is True
    assert loaded.total_requests == result.total_requests >= 20
