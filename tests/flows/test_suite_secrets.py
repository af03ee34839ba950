"""A suite header read from the environment stays a ``${VAR}`` reference in the flow run's
parameters, which the Prefect UI shows and its database keeps; the endpoint expands it inside
the run, so the server receives the value (issue 7, item 16)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest
import yaml
from prefect.client.orchestration import get_client

from flows.params import parse_suite
from flows.sweep import load_test_sweep

TOKEN = "tok-fake-suite-header-0003"

SUITE = """
name: secret-header
endpoints:
  - type: openai-chat
    model: m
    base_url: ${SECRET_TEST_URL}
    stream: false
    headers: {Authorization: "Bearer ${MY_TOKEN}"}
payloads: {prompts: [hi], max_tokens: 4}
load: {n_requests: 2, timeout: 10}
clients: [1]
live_interval: 0.5
"""


@pytest.fixture
def recording_server() -> Iterator[tuple[str, list[str | None]]]:
    """An OpenAI-compatible server (non-streaming) that records each request's Authorization."""
    seen: list[str | None] = []
    reply = json.dumps(
        {
            "id": "r",
            "object": "chat.completion",
            "model": "m",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hello there"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3},
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append(self.headers.get("Authorization"))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", seen
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.usefixtures("prefect_harness")
async def test_a_header_from_the_environment_stays_a_reference_in_the_flow_parameters(
    recording_server, tmp_path, monkeypatch
):
    url, seen = recording_server
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    monkeypatch.setenv("SECRET_TEST_URL", url)
    suite = parse_suite({**yaml.safe_load(SUITE), "results": str(tmp_path)})
    config = suite.sweep(suite.endpoints[0])

    out = await load_test_sweep(config)

    async with get_client() as client:
        flow_run = await client.read_flow_run(out["flow_run_id"])
    stored = json.dumps(flow_run.parameters)
    assert "Bearer ${MY_TOKEN}" in stored and TOKEN not in stored
    assert seen == [f"Bearer {TOKEN}"] * 2  # the server received the value
    (run,) = out["runs"]
    assert run["total_requests"] == 2 and run["stats"]["failed_requests"] == 0
    run_config = (Path(run["run_url"]) / "run_config.json").read_text()
    assert TOKEN not in run_config and "${MY_TOKEN}" not in run_config
