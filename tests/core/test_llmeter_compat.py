"""LLMeter 0.2.0 itself reads the run folders this package writes.

llmeter==0.2.0 is installed from the package index once, into a venv under tests/output/
(gitignored) that sees this environment's packages through a .pth file, so only what is
missing (llmeter, universal-pathlib, tqdm...) is downloaded; later runs reuse it. Without
the index the test is skipped, saying why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from llmeter_core import Callback, Runner
from tests.fakes import FakeEndpoint

CACHE = Path(__file__).resolve().parents[1] / "output" / "llmeter-0.2.0-venv"

READ_WITH_LLMETER = """
import json, sys
from llmeter.results import Result
out = {}
for folder in sys.argv[1:]:
    for load_responses in (True, False):
        result = Result.load(folder, load_responses=load_responses)
        out[f"{folder} {load_responses}"] = {"responses": len(result.responses),
                                             "total_requests": result.total_requests,
                                             "run_name": result.run_name, "stats": result.stats}
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="session")
def llmeter_020() -> Path:
    """The python of a venv with llmeter==0.2.0 (built once, then cached)."""
    python = CACHE / "bin" / "python"
    if (CACHE / ".ready").exists() and python.exists():
        return python
    made = subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--clear", str(CACHE)], capture_output=True, text=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot create a venv for llmeter 0.2.0: {made.stderr.strip()[-300:]}")
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "llmeter-flows-env.pth").write_text("\n".join(sorted(ours)) + "\n")
    try:
        installed = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "--python",
                str(python),
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "llmeter==0.2.0",
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("installing llmeter==0.2.0 took more than 10 minutes")
    if installed.returncode != 0:
        pytest.skip(f"cannot install llmeter==0.2.0 from the package index: {installed.stderr.strip()[-300:]}")
    (CACHE / ".ready").write_text("llmeter==0.2.0\n")
    return python


def read_with_llmeter(python: Path, *folders: Path) -> dict:
    """Load each folder with LLMeter 0.2.0 (one subprocess: importing it takes seconds)."""
    done = subprocess.run(
        [str(python), "-c", READ_WITH_LLMETER, *map(str, folders)], capture_output=True, text=True, timeout=240
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class StopAfter(Callback):
    """Interrupts the run after ``n`` responses, as a Ctrl-C would."""

    def __init__(self, n: int):
        self.n, self.runner = n, None

    async def before_run(self, runner):
        self.runner = runner

    async def after_invoke(self, response):
        self.n -= 1
        if self.n == 0:
            self.runner.request_stop()


def test_llmeter_020_loads_folders_written_here(llmeter_020, tmp_path):
    ours = {}
    for name, callbacks in (("complete", []), ("interrupted", [StopAfter(5)])):
        runner = Runner(
            FakeEndpoint(ttft=0.001, tokens=3, fail_every=4),
            [{"prompt": "a b"}],
            clients=2,
            n_requests=8,
            output_path=tmp_path,
            run_name=name,
            callbacks=callbacks,
        )
        ours[name] = runner.run_sync()
    assert ours["complete"].total_requests == 16 and not ours["complete"].interrupted
    assert ours["interrupted"].total_requests == 6 and ours["interrupted"].interrupted
    theirs = read_with_llmeter(llmeter_020, *(tmp_path / name for name in ours))
    for name, result in ours.items():
        full, summary_only = theirs[f"{tmp_path / name} True"], theirs[f"{tmp_path / name} False"]
        assert full["run_name"] == summary_only["run_name"] == name
        assert full["total_requests"] == summary_only["total_requests"] == result.total_requests
        assert full["responses"] == result.total_requests and summary_only["responses"] == 0
        # LLMeter counts requests cut off by the interrupt as failed; here they are apart, as incomplete
        assert full["stats"]["failed_requests"] == result.stats["failed_requests"] + result.stats["incomplete_requests"]
        assert summary_only["stats"]["interrupted"] is result.interrupted  # our own keys ride in stats.json
        assert summary_only["stats"]["run_duration"] is None
