"""A Prefect cancel (SIGTERM) stops the load at once and still saves the partial run.

Why this module exists: Prefect cancels a served or worker-run flow by sending SIGTERM to
the flow run's process, then SIGKILL 30 s later. Around a flow run Prefect installs its own
SIGTERM handler, which raises ``TerminationSignal`` immediately: left alone, that kills the
run before its partial results are saved. And the task's event loop may run in a worker
thread, where asyncio's ``loop.add_signal_handler`` is not available (``Runner(handle_signals=
True)`` only installs loop handlers on the main thread, and removing them resets SIGTERM to
the default rather than to Prefect's handler).

So there is one process-wide handler, installed from the main thread by ``stop_on_signals``
(the flows enter it first thing; the task enters it too, which is a no-op off the main
thread). On SIGTERM (or Ctrl-C) it:

1. calls ``request_stop()`` on every active runner (thread-safe; the runner stops sending,
   ends what is in flight and saves an *interrupted* run folder);
2. refuses new runs from then on, so a sweep does not start its next client count;
3. once the last active run has saved, re-raises the signal to the handler it replaced
   (Prefect's, or the default), so the process still ends the way a cancel should.

With no active run it hands the signal on at once: behaviour is Prefect's own.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Iterator, Protocol

__all__ = [
    "RunRefused",
    "Stoppable",
    "stop_on_signals",
    "tracking",
    "stop_requested",
    "active_count",
    "reset",
]

HANDLED_SIGNALS: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)


class Stoppable(Protocol):
    def request_stop(self) -> None: ...


class RunRefused(RuntimeError):
    """A run was about to start after a stop signal: the process is shutting down."""


_lock = threading.Lock()
_active: set[Any] = set()
#: One entry per open ``stop_on_signals`` block: the handlers that block displaced.
_stack: list[dict[int, Any]] = []
_stop = threading.Event()
_pending: list[int] = []


def stop_requested() -> bool:
    """True once a handled signal arrived in this process (until ``reset``)."""
    return _stop.is_set()


def active_count() -> int:
    with _lock:
        return len(_active)


def reset() -> None:
    """Forget a past stop signal (tests, or a long-lived process reusing the module)."""
    with _lock:
        _stop.clear()
        _pending.clear()


def _handle(signum: int, frame: Any) -> None:
    with _lock:
        _stop.set()
        runners = list(_active)
        if runners and signum not in _pending:
            _pending.append(signum)
    for runner in runners:
        runner.request_stop()
    if not runners:
        _forward(signum, frame)


def _displaced(signum: int) -> Any:
    """The handler ours most recently replaced for ``signum`` (default if none)."""
    for level in reversed(_stack):
        if signum in level:
            return level[signum]
    return signal.SIG_DFL


def _forward(signum: int, frame: Any) -> None:
    """Give the signal to the handler ours replaced (it runs in the main thread, like us)."""
    previous = _displaced(signum)
    if callable(previous) and previous is not _handle:
        previous(signum, frame)
    elif previous == signal.SIG_IGN:
        return
    else:  # SIG_DFL, or None (set from C): end the process as the signal would have
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


@contextmanager
def stop_on_signals() -> Iterator[bool]:
    """Install the handler for the duration of the block; yields whether it is installed.

    Re-entrant. Each block (re)installs the handler if something replaced it in between
    (Prefect's engine re-arms its own SIGTERM bridge around every subflow) and restores what
    it displaced on exit. Off the main thread it installs nothing and yields whether an outer
    block is open.
    """
    if threading.current_thread() is not threading.main_thread():
        yield bool(_stack)
        return
    displaced: dict[int, Any] = {}
    for signum in HANDLED_SIGNALS:
        current = signal.getsignal(signum)
        if current is not _handle:
            displaced[signum] = current
            signal.signal(signum, _handle)
    _stack.append(displaced)
    try:
        yield True
    finally:
        _stack.pop()
        for signum, previous in displaced.items():
            if signal.getsignal(signum) is _handle:
                signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def tracking(runner: Stoppable) -> Iterator[None]:
    """Register ``runner`` as active while the block runs.

    Raises ``RunRefused`` if a stop signal already arrived. When the block exits after a
    signal and no other run is active, the deferred signal is re-raised to the process.
    """
    with _lock:
        if _stop.is_set():
            raise RunRefused("a stop signal arrived: no new load run starts")
        _active.add(runner)
    try:
        yield
    finally:
        with _lock:
            _active.discard(runner)
            deliver = list(_pending) if not _active else []
            if deliver:
                _pending.clear()
        for signum in deliver:
            os.kill(os.getpid(), signum)
