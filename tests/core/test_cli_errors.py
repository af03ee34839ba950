"""``llmeter-flows run``: user mistakes are one clear line each and exit status 2, with no
traceback and nothing created (issue 7, items 13 and 14); Ctrl-C while the console script
starts exits 130 quietly."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml
from typer.testing import CliRunner

from llmeter_core.cli import app
from tests.processes import pythonpath

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

SPEC = {
    "endpoint": {"type": "openai-chat", "model": "m", "base_url": "http://127.0.0.1:9/v1"},
    "load": {"n_requests": 1},
    "payloads": {"prompts": ["hi"]},
}


def _run(tmp_path: Path, spec: dict | bytes, *args: str):
    path = tmp_path / "spec.yaml"
    path.write_bytes(spec if isinstance(spec, bytes) else yaml.safe_dump(spec).encode())
    return runner.invoke(app, ["run", str(path), "--no-display", "--output", str(tmp_path / "out"), *args])


def _error_lines(result) -> list[str]:
    assert "Traceback" not in result.output, result.output
    return [line for line in result.output.splitlines() if line.strip()]


def test_a_binary_spec_file_is_one_line_and_exit_2(tmp_path):
    result = _run(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    assert result.exit_code == 2
    (line,) = _error_lines(result)
    assert line.startswith("error spec: ") and "not a UTF-8 text file" in line


def test_a_missing_extra_names_the_pip_extra_and_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "litellm", None)  # LiteLLM not installed
    spec = {**SPEC, "endpoint": {"type": "litellm", "model": "openai/m"}}
    result = _run(tmp_path, spec, "--run-name", "extra")
    assert result.exit_code == 2, result.output
    (line,) = _error_lines(result)
    assert "pip install 'llmeter-flows[litellm]'" in line
    assert not (tmp_path / "out").exists()


def test_every_spec_problem_is_shown_in_one_run(tmp_path):
    spec = {**SPEC, "load": {"clients": 0, "n_requests": 5, "run_duration": 10, "tiemout": 3}}
    spec["endpoint"] = {**SPEC["endpoint"], "stream": "maybe"}
    result = _run(tmp_path, spec)
    assert result.exit_code == 2
    lines = _error_lines(result)
    assert lines[0] == "error invalid spec: 4 problems"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "load.clients",
        "load.tiemout",
        "load",
        "endpoint.stream",
    ]


def _limit_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (2 * 1024**3, 2 * 1024**3))


def test_huge_bounds_are_refused_before_any_request(tmp_path):
    # In a subprocess with a memory cap and a timeout: without the limits this run would start
    # 10**12 clients and grow until it is killed, taking the machine's memory with it.
    spec = {**SPEC, "load": {"clients": 1_000_000_000_000, "run_duration": float("inf")}}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(spec))
    code = "import sys; from llmeter_core.cli import app; sys.argv = ['llmeter-flows', *sys.argv[1:]]; app()"
    done = subprocess.run(
        [sys.executable, "-c", code, "run", str(tmp_path / "spec.yaml"), "--no-display", "-o", str(tmp_path / "out")],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": pythonpath()},
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_limit_memory,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert "load.clients" in done.stderr and "load.run_duration" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "out").exists()


_INTERRUPT_AT_IMPORT = """
import sys
class Interrupt:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt  # a Ctrl-C arriving while this module is imported
        return None
sys.meta_path.insert(0, Interrupt())
sys.argv = ["llmeter-flows", *{argv!r}]
from {entry_module} import {entry_function}
sys.exit({entry_function}())
"""


def _console_script(module: str, argv: list[str]) -> subprocess.CompletedProcess:
    """Run the console script declared in pyproject.toml the way its installed wrapper does,
    with a Ctrl-C raised when ``module`` is first imported."""
    entry = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]["llmeter-flows"]
    entry_module, entry_function = entry.split(":")
    code = _INTERRUPT_AT_IMPORT.format(
        module=module, argv=argv, entry_module=entry_module, entry_function=entry_function
    )
    env = {**os.environ, "PYTHONPATH": pythonpath()}
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_ctrl_c_while_the_console_script_starts_exits_130_without_a_traceback():
    for module, argv in [("typer", ["--help"]), ("llmeter_core.spec", ["run", "missing.yaml"])]:
        done = _console_script(module, argv)
        assert done.returncode == 130, (module, done.returncode, done.stderr)
        assert "Traceback" not in done.stderr and done.stdout == "", (module, done.stderr)


def test_a_sharded_spec_is_sent_to_llmeter_flows_without_a_request(tmp_path):
    spec = {**SPEC, "load": {"clients": 2, "n_requests": 1, "shards": 2}}
    result = _run(tmp_path, spec)
    assert result.exit_code == 2
    (line,) = _error_lines(result)
    assert line.startswith("error load.shards: 2 shards are started through Prefect") and "llmeter-flows run" in line
    assert not (tmp_path / "out").exists()
