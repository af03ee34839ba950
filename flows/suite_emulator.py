"""A suite that brings its own emulator: start it, point the suite at it, stop it after.

A suite with an ``emulator:`` section (the demo suite) is self-contained: the nightly
starts that emulator on 127.0.0.1 (a free port) for the length of the runs, so the shipped
nightly deployment runs as shipped, with nothing else to start. The suite file refers to it
through ``${LLMETER_EMULATOR_URL}`` (the OpenAI ``base_url``, ``.../v1``) or
``${LLMETER_AWS_EMULATOR_URL}`` (an AWS ``endpoint_url``); both are set while the emulator
runs (endpoint options are expanded when each endpoint is built, inside its run), and
restored afterwards.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pydantic import ValidationError

from llmeter_core.errors import ConfigError
from llmeter_core.spec import read_yaml

from .nightly_params import EmulatorSpec
from .params import SuiteSpec, expand_env, load_suite

__all__ = ["suite_with_emulator", "EMULATOR_ENV"]

#: Environment variables pointing a suite at the emulator it starts (name -> URL suffix).
EMULATOR_ENV: dict[str, str] = {"LLMETER_EMULATOR_URL": "/v1", "LLMETER_AWS_EMULATOR_URL": ""}


@contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _emulator_section(path: str | Path) -> EmulatorSpec | None:
    """The suite's ``emulator:`` section alone: the rest may refer to the emulator's URL,
    which exists only once it is started."""
    data = read_yaml(path, "suite")
    section = data.get("emulator") if isinstance(data, dict) else None
    if section is None:
        return None
    try:
        return EmulatorSpec.model_validate(expand_env(section))
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = ".".join(["emulator", *(str(p) for p in error["loc"])])
            problems.append(f"{where}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError(problems[0].split(":", 1)[0], "invalid suite\n  " + "\n  ".join(problems)) from None


@contextmanager
def suite_with_emulator(path: str | Path) -> Iterator[tuple[SuiteSpec, str | None]]:
    """Yield ``(suite, emulator URL or None)`` with the suite's emulator running, if it has one."""
    section = _emulator_section(path)
    if section is None:
        yield load_suite(path), None
        return
    from llmeter_core.emulator import EmulatorThread

    with EmulatorThread(section.kind, section.config()) as emulator:
        # set while the runs go, not only while the suite is read: endpoint options keep their
        # ${VAR} references until each endpoint is built inside its run
        with _environment({name: emulator.url + suffix for name, suffix in EMULATOR_ENV.items()}):
            yield load_suite(path), emulator.url
