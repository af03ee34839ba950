"""The environment of a process a test starts."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pythonpath() -> str:
    """PYTHONPATH for a child process: the checkout first, then what this test run has, so a
    uvloop that ``make test-without-uvloop`` hides stays hidden in the child."""
    inherited = os.environ.get("PYTHONPATH")
    return f"{REPO}{os.pathsep}{inherited}" if inherited else str(REPO)
