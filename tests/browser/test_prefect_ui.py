"""The Prefect UI shows a sweep's artifacts: a real server, a real sweep, headless Chromium.

Starts ``prefect server start`` on 127.0.0.1 (a free port, its own PREFECT_HOME), runs
``llmeter-flows sweep --emulator`` against it, opens the flow run's Artifacts tab and the
metrics table artifact in headless Chromium, asserts the table renders, and keeps the
screenshots in ``tests/output/browser/``.
"""

from __future__ import annotations

import html
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

CHROMIUM = "/usr/bin/chromium"
REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "tests" / "output" / "browser"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="headless Chromium (/usr/bin/chromium) is not installed"),
]

SUITE = """\
name: browser-check
endpoints: [{type: openai-chat, model: emulator-model, base_url: '${LLMETER_EMULATOR_URL}'}]
payloads: {prompts: [hello, write a haiku], max_tokens: 12}
load: {n_requests: 3}
clients: [1, 2]
live_interval: 0.5
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _quiet_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
        NO_PROXY="127.0.0.1,localhost",
        PYTHONPATH=str(REPO),
        **extra,
    )
    return env


@pytest.fixture
def prefect_server(tmp_path):
    """``prefect server start`` on a free loopback port; yields its base URL."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("wb")
    env = _quiet_env(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_UI_API_URL=f"{base}/api")
    prefect = Path(sys.executable).with_name("prefect")
    server = subprocess.Popen(
        [str(prefect), "server", "start", "--host", "127.0.0.1", "--port", str(port), "--analytics-off"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            time.sleep(0.5)
        else:
            pytest.fail("prefect server did not become healthy in 90 s")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        log.close()


def _chromium(url: str, profile: Path, *mode: str) -> subprocess.CompletedProcess:
    shutil.rmtree(profile, ignore_errors=True)
    profile.mkdir(parents=True)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-dev-shm-usage",
        f"--user-data-dir={profile}",
        "--window-size=1400,1200",
        "--virtual-time-budget=8000",
    ]
    return subprocess.run([CHROMIUM, *flags, *mode, url], capture_output=True, text=True, timeout=90)


def _visible_text(dom: str) -> str:
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", dom, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom)))


def test_artifacts_tab_and_metrics_table_render(prefect_server, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    sweep = subprocess.run(
        [sys.executable, "-m", "flows.cli", "sweep", str(suite), "--emulator", "--results", str(tmp_path / "results")],
        env=_quiet_env(PREFECT_API_URL=f"{prefect_server}/api", COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert sweep.returncode == 0, sweep.stdout + sweep.stderr
    match = re.search(r"/v2/runs/flow-run/([0-9a-f-]{36})\?tab=Artifacts", sweep.stdout)
    assert match, sweep.stdout
    OUTPUT.mkdir(parents=True, exist_ok=True)

    tab_url = f"{prefect_server}/v2/runs/flow-run/{match.group(1)}?tab=Artifacts"
    tab = _visible_text(_chromium(tab_url, tmp_path / "profile", "--dump-dom").stdout)
    assert "Can't connect" not in tab
    for key in (
        "browser-check-table",
        "browser-check-charts",
        "browser-check-00001-clients-metrics",
        "browser-check-00002-clients-live",
        "browser-check-00002-clients-progress",
    ):
        assert key in tab, tab[:2000]
    _chromium(tab_url, tmp_path / "profile", f"--screenshot={OUTPUT / 'flow-run-artifacts.png'}")

    found = httpx.post(
        f"{prefect_server}/api/artifacts/filter",
        json={"artifacts": {"key": {"any_": ["browser-check-00002-clients-metrics"]}}},
    ).json()
    (artifact,) = found
    expected_p50 = next(r["p50"] for r in _rows(artifact) if r["metric"] == "time_to_first_token (s)")
    page_url = f"{prefect_server}/v2/artifacts/artifact/{artifact['id']}"
    dom = _chromium(page_url, tmp_path / "profile", "--dump-dom").stdout
    text = _visible_text(dom)
    assert "<table" in dom and "<td" in dom
    for cell in (
        "metric",
        "p50",
        "p99",
        "time_to_first_token (s)",
        "time_to_last_token (s)",
        "requests_per_minute",
        str(expected_p50),
    ):
        assert cell in text, text[:3000]
    shot = OUTPUT / "metrics-table.png"
    _chromium(page_url, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 10_000

    (charts,) = httpx.post(
        f"{prefect_server}/api/artifacts/filter", json={"artifacts": {"key": {"any_": ["browser-check-charts"]}}}
    ).json()
    charts_url = f"{prefect_server}/v2/artifacts/artifact/{charts['id']}"
    charts_dom = _chromium(charts_url, tmp_path / "profile", "--dump-dom").stdout
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', charts_dom)) == 6  # charts shown inline
    _chromium(charts_url, tmp_path / "profile", f"--screenshot={OUTPUT / 'sweep-charts.png'}")
    print(f"screenshots in {OUTPUT}: flow-run-artifacts.png, metrics-table.png, sweep-charts.png")


def _rows(artifact: dict) -> list[dict]:
    import json

    return json.loads(artifact["data"])
