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
for load_responses in (True, False):
    result = Result.load(sys.argv[1], load_responses=load_responses)
    out[str(load_responses)] = {"responses": len(result.responses), "total_requests": result.total_requests,
                                "run_name": result.run_name, "stats": result.stats}
print(json.dumps(out, default=str))
"""


@pytest.fixture(scope="session")
def llmeter_020() -> Path:
    """The python of a venv with llmeter==0.2.0 (built once, then cached)."""
    python = CACHE / "bin" / "python"
    if (CACHE / ".ready").exists() and python.exists():
        return python
    made = subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--clear", str(CACHE)],
                          capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot create a venv for llmeter 0.2.0: {made.stderr.strip()[-300:]}")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    (Path(site) / "llmeter-flows-env.pth").write_text("\n".join(sorted(ours)) + "\n")
    try:
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--disable-pip-version-check",
             "llmeter==0.2.0"], capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        pytest.skip("installing llmeter==0.2.0 took more than 10 minutes")
    if installed.returncode != 0:
        pytest.skip(f"cannot install llmeter==0.2.0 from the package index: {installed.stderr.strip()[-300:]}")
    (CACHE / ".ready").write_text("llmeter==0.2.0\n")
    return python


def read_with_llmeter(python: Path, folder: Path) -> dict:
    done = subprocess.run([str(python), "-c", READ_WITH_LLMETER, str(folder)], capture_output=True, text=True,
                          timeout=120)
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


@pytest.mark.parametrize("interrupted", [False, True])
def test_llmeter_020_loads_a_folder_written_here(llmeter_020, tmp_path, interrupted):
    runner = Runner(FakeEndpoint(ttft=0.001, tokens=3, fail_every=4), [{"prompt": "a b"}], clients=2, n_requests=8,
                    output_path=tmp_path, run_name="ours", callbacks=[StopAfter(5)] if interrupted else [])
    ours = runner.run_sync()
    assert ours.interrupted is interrupted and ours.total_requests == (6 if interrupted else 16)
    theirs = read_with_llmeter(llmeter_020, tmp_path / "ours")
    full, summary_only = theirs["True"], theirs["False"]
    assert full["run_name"] == summary_only["run_name"] == "ours"
    assert full["total_requests"] == summary_only["total_requests"] == ours.total_requests
    assert full["responses"] == ours.total_requests and summary_only["responses"] == 0
    # LLMeter counts requests cut off by the interrupt as failed; here they are apart, as incomplete
    assert full["stats"]["failed_requests"] == ours.stats["failed_requests"] + ours.stats["incomplete_requests"]
    assert summary_only["stats"]["interrupted"] is interrupted  # our keys ride in stats.json
    assert summary_only["stats"]["run_duration"] is None
