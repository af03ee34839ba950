"""Run folders: one run per folder, unique default names, bad output paths refused before any
request (ConfigError naming output_path; exit status 2 from the CLI)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid

import pytest
from typer.testing import CliRunner

from llmeter_core import ConfigError, Runner
from llmeter_core.cli import EXIT_BAD_INPUT, app
from tests.fakes import FakeEndpoint

PAYLOADS = [{"prompt": "a b c"}]


async def test_two_runs_started_together_with_one_name_never_share_a_folder(tmp_path):
    first, second = FakeEndpoint(ttft=0.01), FakeEndpoint(ttft=0.01)
    runners = [Runner(e, PAYLOADS, n_requests=5, output_path=tmp_path, run_name="same") for e in (first, second)]
    outcomes = await asyncio.gather(*(r.run() for r in runners), return_exceptions=True)
    refused = [o for o in outcomes if isinstance(o, ConfigError)]
    done = [o for o in outcomes if not isinstance(o, BaseException)]
    assert len(refused) == 1 and len(done) == 1, outcomes
    assert refused[0].field == "run_name" and "already holds a run" in str(refused[0])
    assert first.calls + second.calls == 5  # the refused run sent nothing
    lines = (tmp_path / "same" / "responses.jsonl").read_bytes().splitlines()
    assert len(lines) == 5 == done[0].stats["total_requests"]


async def test_default_run_names_differ_and_sort_by_start_time(tmp_path):
    runners = [Runner(FakeEndpoint(), PAYLOADS, n_requests=1, output_path=tmp_path) for _ in range(3)]
    names = [r.run_name for r in runners]
    assert len(set(names)) == 3
    assert [n[:22] for n in names] == sorted(n[:22] for n in names)  # YYYYMMDD-HHMMSS-ffffff first
    await asyncio.gather(*(r.run() for r in runners))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)


def test_a_folder_left_by_a_run_that_sent_nothing_does_not_block_its_name(tmp_path):
    class Broken(FakeEndpoint):
        async def open(self, clients: int = 1):
            raise RuntimeError("no such server")

    with pytest.raises(RuntimeError):
        Runner(Broken(), PAYLOADS, n_requests=1, output_path=tmp_path, run_name="again").run_sync()
    assert not (tmp_path / "again").exists()
    assert Runner(FakeEndpoint(), PAYLOADS, n_requests=1, output_path=tmp_path, run_name="again").run_sync()


@pytest.fixture
def read_only_dir(tmp_path):
    """A read-only tmpfs (root only; skipped otherwise)."""
    mount_point = tmp_path / "ro"
    mount_point.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "ro,size=64k", f"ro-{uuid.uuid4().hex[:6]}", str(mount_point)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def bad_outputs(tmp_path, read_only_dir):
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    return {
        "read-only": (str(read_only_dir / "results"), "on a read-only file system"),
        "parent is a file": (str(a_file / "results"), "is a file, not a folder"),
        "unknown scheme": ("nosuch://x", "nosuch"),
        "empty": ("", "is empty"),
    }


def test_bad_output_paths_are_refused_when_the_runner_is_built(tmp_path, read_only_dir):
    for case, (output, says) in bad_outputs(tmp_path, read_only_dir).items():
        endpoint = FakeEndpoint()
        with pytest.raises(ConfigError) as info:
            Runner(endpoint, PAYLOADS, n_requests=1, output_path=output)
        assert info.value.field == "output_path" and says in str(info.value), case
        assert endpoint.calls == 0


def test_the_cli_exits_2_with_one_line_for_a_bad_output(tmp_path, read_only_dir):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "endpoint: {type: openai-chat, model: m, base_url: 'http://127.0.0.1:9/v1'}\n"
        "load: {n_requests: 1}\npayloads: {prompts: [hi]}\n"
    )
    for case, (output, says) in bad_outputs(tmp_path, read_only_dir).items():
        outcome = CliRunner().invoke(app, ["run", str(spec), "--no-display", "--output", output])
        assert outcome.exit_code == EXIT_BAD_INPUT, (case, outcome.output)
        assert says in outcome.output and "output_path" in outcome.output, case
        assert outcome.output.count("\n") == 1 and "Traceback" not in outcome.output, case


def test_the_cli_exits_2_when_the_run_name_is_taken(tmp_path, emulator_url):
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        f"run_name: once\noutput: {tmp_path / 'out'}\n"
        f"endpoint: {{type: openai-chat, model: m, base_url: '{emulator_url}'}}\n"
        "load: {n_requests: 1}\npayloads: {prompts: [hi], max_tokens: 4}\n"
    )
    assert CliRunner().invoke(app, ["run", str(spec), "--no-display"]).exit_code == 0
    again = CliRunner().invoke(app, ["run", str(spec), "--no-display"])
    assert again.exit_code == EXIT_BAD_INPUT and "run_name" in again.output and "already holds a run" in again.output
