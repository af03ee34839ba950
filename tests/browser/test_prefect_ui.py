"""The Prefect UI shows a sweep's artifacts: a real server, a real sweep, headless Chromium.

Starts ``prefect server start`` on 127.0.0.1 (a free port, its own PREFECT_HOME). Opens the
Custom run form of the on-demand-sweep deployment (each endpoint type's own fields), runs
``llmeter-flows sweep --emulator`` with results on the moto S3 server, and opens the flow
run's Artifacts tab (the report first), the report (charts rendered), a stats.json link
artifact (an S3 console href) and a metrics table in headless Chromium. Screenshots are kept
in ``tests/output/browser/``.
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


REGISTER = """
import sys
from flows.deployments import runner_deployments

(sweep,) = [d for d in runner_deployments() if d.name == "on-demand-sweep"]
print(sweep.apply())
sweep.name = "on-demand-sweep-bedrock"
sweep.parameters["sweep"]["endpoint"] = {"type": "bedrock-converse-stream", "model": "m", "region": "us-east-1"}
print(sweep.apply())
"""


def test_custom_run_form_shows_each_endpoint_types_options(prefect_server, tmp_path):
    """The Custom run form of on-demand-sweep: base_url for openai-chat, region for a bedrock
    type (the same deployment with a bedrock endpoint as its default), endpoint first."""
    registered = subprocess.run(
        [sys.executable, "-c", REGISTER],
        env=_quiet_env(PREFECT_API_URL=f"{prefect_server}/api"),
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert registered.returncode == 0, registered.stderr
    chat_id, bedrock_id = registered.stdout.split()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    for deployment_id, shown, hidden, shot in (
        (chat_id, "Base Url", "Region", "run-form-openai-chat.png"),
        (bedrock_id, "Region", "Base Url", "run-form-bedrock.png"),
    ):
        url = f"{prefect_server}/v2/deployments/deployment/{deployment_id}/run"
        text = _visible_text(_chromium(url, tmp_path / "profile", "--dump-dom").stdout)
        form = text[text.index("Parameters") :]
        assert shown in form and hidden not in form, form[:3000]
        assert form.index("Endpoint") < form.index("Payloads") < form.index("Load")  # endpoint first, titled
        for choice in ("openai-chat", "bedrock-converse-stream", "sagemaker", "litellm"):
            assert choice in form
        assert not re.search(r"\b(folder|label) \(Optional\)", form, re.I)  # internal flow parameters
        assert "PayloadSpec" not in form and "SweepLoad" not in form
        _chromium(url, tmp_path / "profile", f"--screenshot={OUTPUT / shot}")


def _artifact(base: str, key: str) -> dict:
    (found,) = httpx.post(f"{base}/api/artifacts/filter", json={"artifacts": {"key": {"any_": [key]}}}).json()
    return found


def test_report_first_with_charts_metrics_table_and_links(prefect_server, s3_results, tmp_path):
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE)
    sweep = subprocess.run(
        [sys.executable, "-m", "flows.cli", "sweep", str(suite), "--emulator", "--results", s3_results],
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
    keys = re.findall(r"browser-check-[a-z0-9-]+", tab)
    assert keys and keys[0] == "browser-check-report", (keys, sweep.stdout[-2000:])  # the report is the first card
    for key in ("browser-check-00001-clients-metrics", "browser-check-00002-clients-progress"):
        assert key in keys, keys
    assert "browser-check-table" not in keys and "browser-check-charts" not in keys  # folded into the report
    _chromium(tab_url, tmp_path / "profile", f"--screenshot={OUTPUT / 'flow-run-artifacts.png'}")

    report_url = f"{prefect_server}/v2/artifacts/artifact/{_artifact(prefect_server, 'browser-check-report')['id']}"
    report_dom = _chromium(report_url, tmp_path / "profile", "--dump-dom").stdout
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', report_dom)) == 6  # charts rendered inline
    report_text = _visible_text(report_dom)
    for cell in ("TTFT p50 (ms)", "Throughput (req/s)", "Output (tok/s)", "00002-clients"):
        assert cell in report_text, report_text[:3000]
    _chromium(report_url, tmp_path / "profile", f"--screenshot={OUTPUT / 'sweep-report.png'}")

    stats = _artifact(prefect_server, "browser-check-00002-clients-stats")
    link_url = f"{prefect_server}/v2/artifacts/artifact/{stats['id']}"
    link_dom = _chromium(link_url, tmp_path / "profile", "--dump-dom").stdout
    assert re.search(r'<a[^>]+href="https://s3\.console\.aws\.amazon\.com/s3/object/', link_dom), link_dom[-3000:]
    assert f"{s3_results}/" in _visible_text(link_dom)
    _chromium(link_url, tmp_path / "profile", f"--screenshot={OUTPUT / 'stats-link.png'}")

    artifact = _artifact(prefect_server, "browser-check-00002-clients-metrics")
    expected_p50 = next(r["p50"] for r in _rows(artifact) if r["metric"] == "TTFT (ms)")
    page_url = f"{prefect_server}/v2/artifacts/artifact/{artifact['id']}"
    dom = _chromium(page_url, tmp_path / "profile", "--dump-dom").stdout
    text = _visible_text(dom)
    assert "<table" in dom and "<td" in dom
    for cell in ("metric", "p50", "p99", "TTFT (ms)", "TTLT (ms)", str(expected_p50)):
        assert cell in text, text[:3000]
    print(f"screenshots in {OUTPUT}: run-form-*.png, flow-run-artifacts.png, sweep-report.png, stats-link.png")


def _rows(artifact: dict) -> list[dict]:
    import json

    return json.loads(artifact["data"])
