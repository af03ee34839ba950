"""Errors raised by llmeter_core.

The tree::

    LLMeterError                 every error this package raises on purpose
    ├── ConfigError              bad input, found before any request is sent
    │   └── PayloadError         a payload source that cannot be read (file, line)
    └── StorageError             results could not be written where asked; says where
        │                        the local copy is
        └── WriteError           a run folder file could not be written (disk full, I/O
                                 error): the run stopped; ``result`` keeps what was measured

A failing *endpoint* never raises into the runner: its exception becomes an
``InvocationResponse`` with ``error`` and ``error_type`` set (see ``endpoints/base.py``).
"""

from __future__ import annotations

__all__ = ["LLMeterError", "ConfigError", "PayloadError", "StorageError", "WriteError"]


class LLMeterError(Exception):
    """Base class for errors raised by llmeter_core."""


class ConfigError(LLMeterError, ValueError):
    """Bad input. ``field`` names the option (dotted for nested spec fields)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class PayloadError(ConfigError):
    """A payload file or folder that cannot be used; ``line`` is 1-based when known."""

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source = source
        self.line = line
        where = f"{source}, line {line}" if line is not None else source
        super().__init__("payload", f"{where}: {message}")


class StorageError(LLMeterError):
    """Results could not be published to their destination.

    ``local_path`` is where the complete run folder is kept so nothing measured is lost;
    ``interrupted`` is true when the user stopped the upload (a second Ctrl-C).
    """

    def __init__(self, message: str, local_path: str | None = None, interrupted: bool = False):
        self.local_path = local_path
        self.interrupted = interrupted
        suffix = f" (the run is kept at {local_path})" if local_path else ""
        super().__init__(message + suffix)


class WriteError(StorageError):
    """Writing the run folder failed (disk full, read-only remount, I/O error).

    The run stops sending at the first failed write; ``result`` is the ``Result`` with
    everything measured, kept in memory, and the message says which file failed, how, and
    whether stats.json and summary.json could still be written.
    """

    def __init__(self, message: str, local_path: str | None = None, result: object = None):
        self.result = result
        super().__init__(message, local_path=local_path)
