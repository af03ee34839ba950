"""Run folders on S3 (moto's server mode on 127.0.0.1)."""

import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import boto3
import orjson
import pytest

from llmeter_core import Callback, Result, Runner, StorageError
from llmeter_core.cli import EXIT_INTERRUPTED
from tests.fakes import FakeEndpoint
from tests.processes import pythonpath

REPO = Path(__file__).resolve().parents[2]

PAYLOADS = [{"prompt": "a b c"}]


def test_run_folder_on_s3_round_trips(s3_server, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMETER_STAGING_DIR", str(tmp_path / "staging"))
    url = f"s3://{s3_bucket}/nightly"
    result = Runner(FakeEndpoint(tokens=2), PAYLOADS, clients=2, n_requests=5, output_path=url, run_name="r").run_sync()
    assert result.output_path == f"{url}/r"
    s3 = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket)["Contents"])
    assert keys == [
        f"nightly/r/{n}" for n in ("payload.jsonl", "responses.jsonl", "run_config.json", "stats.json", "summary.json")
    ]
    loaded = Result.load(result.output_path)
    assert loaded.stats == result.stats and len(loaded.responses) == 10
    assert list((tmp_path / "staging").iterdir()) == []  # verified upload: the staged copy is gone
    # a second run with the same name is refused before it sends anything
    endpoint = FakeEndpoint()
    with pytest.raises(Exception, match="already holds a run"):
        Runner(endpoint, PAYLOADS, n_requests=1, output_path=url, run_name="r").run_sync()
    assert endpoint.calls == 0


class DropBucket(Callback):
    """Makes the store fail between the run and the upload."""

    def __init__(self, endpoint_url, bucket):
        self.endpoint_url, self.bucket = endpoint_url, bucket

    async def after_run(self, result):
        boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1").delete_bucket(Bucket=self.bucket)


def test_failed_upload_keeps_the_local_copy_and_says_where(s3_server, s3_bucket, tmp_path, monkeypatch):
    monkeypatch.setenv("LLMETER_STAGING_DIR", str(tmp_path / "staging"))
    runner = Runner(
        FakeEndpoint(tokens=2),
        PAYLOADS,
        n_requests=4,
        output_path=f"s3://{s3_bucket}/x",
        run_name="r",
        callbacks=[DropBucket(s3_server, s3_bucket)],
    )
    runner._folder.backoff_s = 0.01
    with pytest.raises(StorageError) as info:
        runner.run_sync()
    local = info.value.local_path
    assert local and local.startswith(str(tmp_path / "staging")) and local in str(info.value)
    stats = orjson.loads(Path(f"{local}/stats.json").read_bytes())
    assert stats["total_requests"] == 4
    assert len(Path(f"{local}/responses.jsonl").read_bytes().splitlines()) == 4


def test_ctrl_c_during_a_failing_upload_names_the_local_copy_and_a_second_one_stops_it(
    s3_server, emulator_url, tmp_path
):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"run_name: r\nendpoint: {{type: openai-chat, model: m, base_url: '{emulator_url}'}}\n"
        "load: {n_requests: 2}\npayloads: {prompts: [hi], max_tokens: 4}\n"
    )
    env = {**os.environ, "PYTHONPATH": pythonpath(), "LLMETER_STAGING_DIR": str(tmp_path / "staging")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llmeter_core.cli",
            "run",
            str(spec),
            "--no-display",
            "--output",
            "s3://no-such-bucket/x",
        ],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
    seen: list[str] = []

    def wait_for(text: str) -> None:
        while not any(text in line for line in seen):
            seen.append(lines.get(timeout=60))

    try:
        wait_for("upload of run_config.json failed (attempt 1/5)")
        process.send_signal(signal.SIGINT)
        wait_for("the run folder is kept at")
        kept = next(line for line in seen if "the run folder is kept at" in line)
        assert not any("attempt 2/5" in line for line in seen)  # said at once, not after the next retry
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == EXIT_INTERRUPTED
    finally:
        process.kill()
    process.stderr.close()
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    local = kept.split("the run folder is kept at ")[1].split(";")[0]
    assert local.startswith(str(tmp_path / "staging"))
    assert "stopped by a second interrupt" in output and f"the run is kept at {local}" in output
    assert "attempt 4/5" not in output and "Traceback" not in output
    assert orjson.loads(Path(local, "stats.json").read_bytes())["total_requests"] == 2
