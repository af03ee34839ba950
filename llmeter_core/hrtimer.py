"""Sleeping until a moment with sub-millisecond precision, inside the event loop.

asyncio's timers are only as precise as the selector's timeout, and epoll takes whole
milliseconds (rounded up): a send due in 0.3 ms fires up to 1 ms late, so a 2,000 req/s
schedule (one send every 0.5 ms) would be sent in 1 ms clumps. ``HRTimer`` instead arms a
Linux ``timerfd`` (a kernel high-resolution timer, ~50 us here) on ``CLOCK_MONOTONIC`` and
waits for it to become readable like any socket: no thread, no spinning, one
``timerfd_settime`` per wake-up. ``time.perf_counter_ns`` is ``CLOCK_MONOTONIC`` on Linux, so
the engine's timestamps and the timer share one clock.

Where there is no timerfd (not Linux, or no libc through ctypes), ``HRTimer`` falls back to
``loop.call_at`` and says so in ``kind`` (recorded in run_config.json): the schedule is kept,
only its precision is the loop's.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import sys
import time
from typing import Callable

from .clock import now_ns

__all__ = ["HRTimer"]

_CLOCK_MONOTONIC = 1
_TFD_NONBLOCK = os.O_NONBLOCK
_TFD_CLOEXEC = 0o2000000
_TFD_TIMER_ABSTIME = 1


class _Timespec(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_nsec", ctypes.c_long)]


class _Itimerspec(ctypes.Structure):
    _fields_ = [("it_interval", _Timespec), ("it_value", _Timespec)]


def _libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    if "CLOCK_MONOTONIC" not in time.get_clock_info("perf_counter").implementation:
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.timerfd_create.argtypes = [ctypes.c_int, ctypes.c_int]
        libc.timerfd_settime.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.POINTER(_Itimerspec), ctypes.c_void_p]
        return libc
    except (OSError, AttributeError):
        return None


class HRTimer:
    """``timer.call_at(deadline_ns, callback)`` on the ``now_ns`` clock: one pending call at a
    time (the pacer of a run re-arms it from its callback). A callback, not a coroutine, so
    a wake-up costs one ``os.read`` and one ``timerfd_settime`` and no future or task.
    ``close()`` releases the file descriptor."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._libc = _libc()
        self._fd = -1
        self._callback: Callable[[], None] | None = None
        self._handle: asyncio.TimerHandle | None = None
        if self._libc is not None:
            fd = self._libc.timerfd_create(_CLOCK_MONOTONIC, _TFD_NONBLOCK | _TFD_CLOEXEC)
            if fd >= 0:
                self._fd = fd
                self._spec = _Itimerspec()
                self._settime = self._libc.timerfd_settime
                self._spec_ref = ctypes.byref(self._spec)
                self._loop.add_reader(fd, self._fired)
        self.kind = "timerfd" if self._fd >= 0 else "loop"

    def call_at(self, deadline_ns: int, callback: Callable[[], None]) -> None:
        """Call ``callback`` at ``deadline_ns`` (replacing any pending call)."""
        self._callback = callback
        if self._fd >= 0:
            value = self._spec.it_value
            value.tv_sec, value.tv_nsec = divmod(max(deadline_ns, 1), 1_000_000_000)
            if self._settime(self._fd, _TFD_TIMER_ABSTIME, self._spec_ref, None) != 0:
                raise OSError(ctypes.get_errno(), "timerfd_settime failed")
        else:
            if self._handle is not None:
                self._handle.cancel()
            delay = (deadline_ns - now_ns()) / 1e9
            self._handle = self._loop.call_at(self._loop.time() + delay, self._run)

    def cancel(self) -> None:
        self._callback = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _fired(self) -> None:
        try:
            os.read(self._fd, 8)
        except BlockingIOError:  # disarmed or re-armed before the loop read it
            return
        self._run()

    def _run(self) -> None:
        callback, self._callback = self._callback, None
        self._handle = None
        if callback is not None:
            callback()

    def close(self) -> None:
        self.cancel()
        if self._fd >= 0:
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
