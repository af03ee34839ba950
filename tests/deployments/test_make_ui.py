"""``make ui PORT=N`` serves a UI that talks to the API on port N, not 4200 (issue 13 item 10)."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_ui_points_the_ui_at_its_own_port():
    printed = subprocess.run(["make", "-n", "ui", "PORT=4301"], cwd=REPO, capture_output=True, text=True, timeout=30)
    (command,) = [line for line in printed.stdout.splitlines() if "prefect server start" in line]
    assert "PREFECT_UI_API_URL=http://127.0.0.1:4301/api" in command and "--port 4301" in command
