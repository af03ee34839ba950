"""Ctrl-C and SIGTERM stop a run instead of killing it.

``install_stop_handlers`` routes SIGINT and SIGTERM to a callback through the running event
loop (``loop.add_signal_handler``, so the callback runs in the loop, never inside a
half-finished step) and returns a function that puts back the handlers it displaced:
``remove_signal_handler`` alone would reset them to the default rather than to, say, a
framework's own handler. Signal handlers can only be installed from the main thread; from
any other thread it installs nothing (a caller there stops the run with
``Runner.request_stop()``, as ``tasks/interrupts.py`` does for Prefect).
"""

from __future__ import annotations

import asyncio
import signal
import threading
from typing import Callable

__all__ = ["install_stop_handlers", "STOP_SIGNALS"]

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def install_stop_handlers(callback: Callable[[], None]) -> Callable[[], None]:
    """Send SIGINT/SIGTERM to ``callback`` on the running loop; returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    loop = asyncio.get_running_loop()
    previous = {}
    for sig in STOP_SIGNALS:
        try:
            previous[sig] = signal.getsignal(sig)
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError, ValueError):
            previous.pop(sig, None)

    def restore() -> None:
        for sig, handler in previous.items():
            loop.remove_signal_handler(sig)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    return restore
