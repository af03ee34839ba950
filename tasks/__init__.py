"""Prefect tasks over llmeter_core: one load run per task, live metrics as artifacts.

``run_load_test`` is the task; ``interrupts`` makes a Prefect cancel stop the load and keep
the partial run; ``live`` and ``artifacts`` are what the UI shows.
"""

from .interrupts import RunRefused, stop_on_signals, stop_requested
from .load_test import attempt_run_name, run_load_test, run_summary

__all__ = ["run_load_test", "attempt_run_name", "run_summary", "stop_on_signals", "stop_requested", "RunRefused"]
