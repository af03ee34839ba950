"""Session fixtures for the Prefect tests: one test harness, one moto S3 server, one emulator.

Registered from ``tests/conftest.py`` with ``pytest_plugins = ["tests.prefect_fixtures"]``.

- ``prefect_harness``: ONE ``prefect_test_harness`` for the session (it takes 14-23 s to
  start here, so never per test), analytics off, no telemetry. Yields the harness API URL,
  for subprocesses that must talk to the same server.
- ``s3_results``: ``s3://<bucket>``, a fresh bucket per test on the session moto server of
  tests/conftest.py (``s3_server``, ``s3_bucket``: moto's server mode on 127.0.0.1, port 0,
  reached through ``AWS_ENDPOINT_URL_S3``).
- ``emulator_url``: the OpenAI-compatible emulator in a thread, fast enough for short runs
  (TTFT ~15 ms); yields the ``base_url`` (``http://127.0.0.1:<port>/v1``).
"""

from __future__ import annotations

import os
from typing import Iterator

import pytest

__all__ = ["prefect_harness", "s3_results", "emulator_url", "FAST_EMULATOR"]

#: Emulator settings of the Prefect tests: short requests so a whole sweep takes seconds.
FAST_EMULATOR = {"ttft_ms": 15.0, "itl_ms": 2.0, "output_tokens": 12, "seed": 7}

_QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "PREFECT_LOGGING_TO_API_BATCH_INTERVAL": "0.3",
    "NO_PROXY": "127.0.0.1,localhost",
}


def _set_env(values: dict[str, str]) -> dict[str, str | None]:
    previous = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    return previous


def _restore_env(previous: dict[str, str | None]) -> None:
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[str]:
    """One Prefect test server for the whole session; yields its API URL."""
    previous = _set_env(_QUIET_ENV)
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    try:
        with prefect_test_harness(server_startup_timeout=90):
            yield str(PREFECT_API_URL.value())
    finally:
        _restore_env(previous)


@pytest.fixture
def s3_results(s3_bucket: str) -> str:
    """A results root in a fresh bucket of the session moto server (``s3_server`` and
    ``s3_bucket`` come from tests/conftest.py); yields ``s3://<bucket>``."""
    return f"s3://{s3_bucket}"


@pytest.fixture(scope="session")
def emulator_url() -> Iterator[str]:
    """The OpenAI-compatible emulator for the session; yields its ``base_url``."""
    from llmeter_core.emulator import EmulatorThread

    emulator = EmulatorThread("openai", dict(FAST_EMULATOR)).start()
    try:
        yield f"{emulator.url}/v1"
    finally:
        emulator.stop()
