"""A full disk or a failing write: the run stops sending at the first failure, keeps what was
measured (stats.json and summary.json if at all possible, else the stats in the log), leaves
no torn line, and the CLI exits with EXIT_NOT_SAVED.

The real thing is a 200 KiB tmpfs (mounting needs root: skipped otherwise); the paths a real
disk cannot reach on demand (stats.json failing too, a short write) use ``FullDisk``, a fake
disk swapped into the run folder.
"""

from __future__ import annotations

import errno
import os
import subprocess
import uuid

import orjson
import pytest
from typer.testing import CliRunner

from llmeter_core import Result, Runner, WriteError
from llmeter_core.cli import EXIT_NOT_SAVED, app
from llmeter_core.emulator import EmulatorThread
from llmeter_core.storage import RESERVE_NAME, RunFolder
from tests.fakes import FakeEndpoint

BIG = [{"prompt": "word " * 200}]  # ~1 KB responses.jsonl lines fill a small disk fast


@pytest.fixture
def tiny_disk(tmp_path):
    """A 200 KiB tmpfs mounted at a fresh folder; yields its path."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=200k", f"tiny-{uuid.uuid4().hex[:6]}", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


class FullDisk:
    """A disk with ``free`` bytes left. ``write`` (for ``os.write``) and ``open`` write for real
    until the space is used up, then behave like a full disk: a short write, then ENOSPC."""

    def __init__(self, free: int):
        self.free = free

    def _take(self, size: int) -> int:
        if self.free <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        taken = min(size, self.free)
        self.free -= taken
        return taken

    def write(self, fd: int, data) -> int:
        return os.write(fd, bytes(data[: self._take(len(data))]))

    def open(self, path, mode="wb"):
        disk = self

        class File:
            def __init__(self):
                self.handle = open(path, mode)

            def write(self, data):
                taken = disk._take(len(data))
                self.handle.write(data[:taken])
                if taken < len(data):
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                self.handle.close()

        return File()


def fill(folder: RunFolder, disk: FullDisk) -> None:
    folder._write_fd = disk.write
    folder._open_file = disk.open


def test_a_full_tmpfs_stops_the_run_and_keeps_every_measured_request(tiny_disk):
    endpoint = FakeEndpoint(tokens=100)
    runner = Runner(endpoint, BIG, clients=4, n_requests=100_000, output_path=str(tiny_disk), run_name="full")
    with pytest.raises(WriteError) as info:
        runner.run_sync()
    message = str(info.value)
    folder = tiny_disk / "full"
    assert f"writing {folder / 'responses.jsonl'} failed: No space left on device (ENOSPC)" in message
    result = info.value.result
    assert result.interrupted and 0 < result.total_requests < 4 * 100_000  # it stopped sending
    assert endpoint.calls == result.total_requests  # every request sent is measured
    assert "stats.json and summary.json hold every one of them" in message
    stats = orjson.loads((folder / "stats.json").read_bytes())
    assert stats["total_requests"] == result.total_requests and stats["interrupted"] is True
    assert orjson.loads((folder / "summary.json").read_bytes())["total_requests"] == result.total_requests
    body = (folder / "responses.jsonl").read_bytes()
    assert body.endswith(b"\n")  # no torn last line
    lines = body.splitlines()
    assert all(orjson.loads(line)["response_text"] for line in lines)
    assert len(lines) + stats.get("responses_not_written", 0) == result.total_requests
    assert not (folder / RESERVE_NAME).exists()
    loaded = Result.load(str(folder))
    assert loaded.stats["total_requests"] == result.total_requests


def test_the_cli_names_the_failed_file_and_exits_with_a_named_status(tiny_disk, tmp_path):
    spec = tmp_path / "spec.yaml"
    with EmulatorThread("openai", {"ttft_ms": 0, "itl_ms": 0, "output_tokens": 300}) as emulator:
        spec.write_text(
            f"run_name: cli-full\noutput: {tiny_disk}\n"
            f"endpoint: {{type: openai-chat, model: m, base_url: '{emulator.url}/v1'}}\n"
            "load: {clients: 2, n_requests: 100000}\npayloads: {prompts: [hi], max_tokens: 300}\n"
        )
        outcome = CliRunner().invoke(app, ["run", str(spec), "--no-display"])
    assert outcome.exit_code == EXIT_NOT_SAVED, outcome.output
    assert "responses.jsonl failed: No space left on device" in outcome.output
    assert "Traceback" not in outcome.output
    assert (tiny_disk / "cli-full" / "stats.json").exists()


def test_a_short_write_leaves_whole_lines_only(tmp_path):
    folder = RunFolder(str(tmp_path), "r")
    folder.claim()
    folder.open()
    stops = []
    folder.on_failure = lambda: stops.append(True)
    fill(folder, FullDisk(free=150))
    lines = [b'{"n": %02d, "pad": "xxxxxxxxxxxxxxxxxxxxxxxxx"}' % i for i in range(10)]  # 45 bytes + newline
    for line in lines:
        folder.append_response(line)
    folder.flush()  # 150 bytes fit: three lines and a third of the fourth
    folder.append_response(b'{"n": 10}')  # after the failure: counted, not written
    folder.close()
    body = (tmp_path / "r" / "responses.jsonl").read_bytes()
    assert body == b"".join(line + b"\n" for line in lines[:3])  # the torn fourth line was cut off
    assert folder.unwritten == 8 and stops == [True]
    assert "responses.jsonl failed: No space left on device" in str(folder.failure)


def test_when_stats_json_cannot_be_written_the_stats_are_logged(tmp_path, caplog):
    endpoint = FakeEndpoint(tokens=100)
    runner = Runner(endpoint, BIG, clients=2, n_requests=100_000, output_path=str(tmp_path), run_name="r")
    fill(runner._folder, FullDisk(free=100_000))
    with pytest.raises(WriteError) as info:
        runner.run_sync()
    assert "responses.jsonl failed" in str(info.value)
    assert "stats.json could not be written either" in str(info.value)
    total = info.value.result.total_requests
    assert 0 < total < 200_000 and endpoint.calls == total
    logged = [r.getMessage() for r in caplog.records if "the stats of this run" in r.getMessage()]
    assert len(logged) == 1 and f'"total_requests":{total}' in logged[0]
    assert not (tmp_path / "r" / "stats.json").exists()
    assert not [p.name for p in (tmp_path / "r").iterdir() if p.name.endswith(".tmp")]  # no half-written file


def test_a_run_whose_config_cannot_be_written_sends_nothing(tmp_path):
    endpoint = FakeEndpoint()
    runner = Runner(endpoint, BIG, n_requests=5, output_path=str(tmp_path), run_name="r")
    fill(runner._folder, FullDisk(free=0))
    with pytest.raises(WriteError, match=r"run_config.json failed: No space left on device") as info:
        runner.run_sync()
    assert endpoint.calls == 0 and info.value.result.total_requests == 0
