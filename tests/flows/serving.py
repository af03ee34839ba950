"""A flow served as a deployment the real way: ``flow.serve`` in a child process, as
``llmeter-flows serve`` or a worker runs it, so a run started with ``run_deployment`` goes
through Prefect's parameter handling and a child process of its own."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator

from prefect.client.orchestration import get_client

from tests.processes import pythonpath

SERVE = """
import sys
from {module} import {flow}

if __name__ == "__main__":  # flow runs start in spawned processes that re-import __main__
    {flow}.serve(name=sys.argv[1], print_starting_message=False)
"""


@asynccontextmanager
async def served(module: str, flow: str, name: str, api_url: str, folder: Path) -> AsyncIterator[Path]:
    """Serve ``module.flow`` as deployment ``name`` until the block ends; yields its log file
    (read it in assertion messages). Waits until the deployment is registered."""
    script = folder / f"serve_{name}.py"
    script.write_text(SERVE.format(module=module, flow=flow))
    env = {**os.environ, "PREFECT_API_URL": api_url, "PYTHONPATH": pythonpath(), "PREFECT_RUNNER_POLL_FREQUENCY": "1"}
    log_path = folder / f"serve_{name}.log"
    log = log_path.open("wb")
    server = subprocess.Popen(
        [sys.executable, str(script), name], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=folder
    )
    try:
        async with get_client() as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    await client.read_deployment_by_name(f"{flow.replace('_', '-')}/{name}")
                    break
                except Exception:
                    assert time.monotonic() < deadline and server.poll() is None, log_path.read_text()
                    await asyncio.sleep(0.3)
        yield log_path
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
