"""Which event loop runs the engine: uvloop where it is installed, plain asyncio otherwise.

uvloop (libuv under the asyncio API, ``pip install 'llmeter-flows[fast]'``) makes each network
read, each wake-up of a waiting client and each timer cheaper than the standard loop does, and
a streamed token is one of each: see ``benchmarks/README.md`` (``streaming_benchmark.py``) for
what it saves per token. The engine runs the same on either loop; ``loop_kind()`` says which one
a run used (``event_loop`` in run_config.json).

``LLMETER_EVENT_LOOP`` chooses: ``auto`` (default: uvloop if it imports), ``uvloop`` (an error
if it is not installed) or ``asyncio``.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Coroutine, TypeVar

from .errors import ConfigError

__all__ = ["LOOPS", "ENV_VAR", "loop_factory", "run", "loop_kind"]

#: The choices of ``LLMETER_EVENT_LOOP`` (and of the benchmarks' ``--loop``).
LOOPS = ("auto", "uvloop", "asyncio")
ENV_VAR = "LLMETER_EVENT_LOOP"

T = TypeVar("T")


def loop_factory(choice: str | None = None) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The ``asyncio.Runner(loop_factory=...)`` for ``choice`` (default: the environment's
    ``LLMETER_EVENT_LOOP``, else ``auto``); None means asyncio's own loop."""
    if choice is None:
        choice = os.environ.get(ENV_VAR, "").strip().lower() or "auto"
    if choice not in LOOPS:
        raise ConfigError(ENV_VAR, f"must be one of {', '.join(LOOPS)}, got {choice!r}")
    if choice == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if choice == "uvloop":
            raise ConfigError(
                ENV_VAR, "uvloop is not installed (pip install 'llmeter-flows[fast]', or choose asyncio)"
            ) from None
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def run(main: Coroutine[Any, Any, T], choice: str | None = None) -> T:
    """``asyncio.run(main)`` on the chosen loop (see ``loop_factory``)."""
    try:
        factory = loop_factory(choice)
    except BaseException:
        main.close()  # never awaited: no "coroutine was never awaited" warning
        raise
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_kind() -> str:
    """Which event loop is running (``uvloop`` or ``asyncio``), for run_config.json."""
    try:
        module = type(asyncio.get_running_loop()).__module__
    except RuntimeError:
        return "asyncio"
    return "uvloop" if module.startswith("uvloop") else "asyncio"
