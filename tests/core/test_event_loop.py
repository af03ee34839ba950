"""The engine's event loop (``llmeter_core/event_loop.py``): uvloop where it is installed,
plain asyncio otherwise or when ``LLMETER_EVENT_LOOP`` says so; the same counts and token
times on either, and run_config.json says which one ran."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from llmeter_core import Runner, create_endpoint
from llmeter_core.cli import app
from llmeter_core.emulator import EmulatorThread
from llmeter_core.errors import ConfigError
from llmeter_core.event_loop import ENV_VAR, loop_factory, loop_kind, run
from tests.event_loops import uvloop_importable

HAS_UVLOOP = uvloop_importable()
needs_uvloop = pytest.mark.skipif(not HAS_UVLOOP, reason="uvloop is not installed")

PAYLOAD = {"messages": [{"role": "user", "content": "hello there"}], "max_tokens": 12}


async def _kind() -> str:
    return loop_kind()


def test_auto_runs_on_uvloop_when_it_is_installed_and_on_asyncio_otherwise(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert run(_kind()) == ("uvloop" if HAS_UVLOOP else "asyncio")
    monkeypatch.setitem(sys.modules, "uvloop", None)  # not installed
    assert loop_factory() is None and run(_kind()) == "asyncio"


@pytest.mark.skipif(not os.environ.get("LLMETER_TEST_WITHOUT_UVLOOP"), reason="only in make test-without-uvloop")
def test_without_uvloop_means_without_it_here_and_in_the_processes_the_tests_start():
    """``make test-without-uvloop`` hides an installed uvloop from this process and from its
    children, so the engine's own choice (``auto``) falls back to asyncio everywhere."""
    assert not uvloop_importable() and loop_factory() is None
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "from llmeter_core.event_loop import run, loop_kind\nasync def k(): return loop_kind()\nprint(run(k()))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0 and child.stdout.strip() == "asyncio", child.stderr


def test_asyncio_can_be_chosen_and_outside_a_loop_the_kind_is_asyncio(monkeypatch):
    monkeypatch.setenv(ENV_VAR, "asyncio")
    assert run(_kind()) == "asyncio"
    assert loop_kind() == "asyncio"


@needs_uvloop
def test_uvloop_can_be_chosen(monkeypatch):
    monkeypatch.setenv(ENV_VAR, " UVLOOP ")
    assert run(_kind()) == "uvloop"


@pytest.mark.parametrize(
    "value, uninstalled, message",
    [("trio", False, "must be one of auto, uvloop, asyncio, got 'trio'"), ("uvloop", True, "uvloop is not installed")],
)
def test_a_bad_choice_is_a_config_error_naming_the_variable(monkeypatch, value, uninstalled, message):
    monkeypatch.setenv(ENV_VAR, value)
    if uninstalled:
        monkeypatch.setitem(sys.modules, "uvloop", None)
    coro = _kind()
    with pytest.raises(ConfigError, match=message) as caught:
        run(coro)
    assert caught.value.field == ENV_VAR
    assert coro.cr_frame is None  # closed, not left "never awaited"


def test_the_cli_refuses_a_bad_choice_in_one_line_exit_2_before_any_request(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "fastest")
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:9/v1"},
                "load": {"n_requests": 1},
                "payloads": {"prompts": ["hi"]},
            }
        )
    )
    result = CliRunner().invoke(app, ["run", str(spec), "--no-display", "--output", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and ENV_VAR in lines[0] and "Traceback" not in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("choice", ["asyncio", pytest.param("uvloop", marks=needs_uvloop)])
def test_a_streamed_run_counts_and_times_the_same_on_either_loop(tmp_path, monkeypatch, choice):
    """Every request the emulator served is recorded, every token counted, every first token
    no earlier than the emulator wrote it; run_config.json names the loop."""
    monkeypatch.setenv(ENV_VAR, choice)
    with EmulatorThread("openai", ttft_ms=20, itl_ms=2, output_tokens=12) as emu:
        endpoint = create_endpoint("openai-chat", model_id="m", base_url=emu.url + "/v1", stream=True)
        result = Runner(endpoint, PAYLOAD, clients=8, n_requests=5, output_path=tmp_path, run_name="r").run_sync()
        served = emu.stats()["requests"]
        truths = [emu.request_truth(r.id) for r in result.responses]
    assert result.total_requests == 40 == served
    assert all(r.ok and r.num_tokens_output == 12 and r.response_text for r in result.responses)
    for response, truth in zip(result.responses, truths, strict=True):
        # the token cannot arrive before the handler that started after the send wrote it
        assert response.time_to_first_token * 1000.0 >= truth["first_token_ms"]
    config = json.loads((tmp_path / "r" / "run_config.json").read_text())
    assert config["event_loop"] == choice
    assert len((tmp_path / "r" / "responses.jsonl").read_bytes().splitlines()) == 40
