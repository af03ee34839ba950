"""Reading the YAML files people write (spec and suite files): one-line errors for a file
that is missing, binary, not UTF-8 or not YAML, and ``${VAR}`` references read from the
environment."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = ["read_yaml", "expand_env"]

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def read_yaml(path: str | Path, field: str = "spec") -> Any:
    """A YAML file's content; a missing, unreadable, binary or unparsable file is a one-line
    ConfigError naming ``field``."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(field, f"{path}: is a folder, not a YAML file")
    if not path.is_file():
        raise ConfigError(field, f"{path}: no such file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(field, f"{path}: cannot be read: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            field, f"{path}: not a UTF-8 text file (byte 0x{raw[exc.start]:02x} at offset {exc.start}); expected YAML"
        ) from None
    if "\0" in text:
        raise ConfigError(
            field, f"{path}: not a text file (it holds NUL bytes at offset {text.index(chr(0))}); expected YAML"
        )
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(field, f"{path}: not valid YAML: {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error on one line: what, and where."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if problem and mark is not None:
        context = getattr(exc, "context", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}"
        return f"{problem} ({context}) at {where}" if context else f"{problem} at {where}"
    return " ".join(str(exc).split())


def expand_env(value: Any, field: str | None = None) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a loaded YAML tree.

    A variable that is not set (and has no default) is a ConfigError naming ``field`` (else
    the variable)."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is None or (found == "" and default is not None):
                if default is None:
                    raise ConfigError(
                        field or name, f"environment variable ${{{name}}} is not set (or give ${{{name}:-default}})"
                    )
                return default
            return found

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(v, field) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v, field) for k, v in value.items()}
    return value
