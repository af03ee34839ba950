"""Flow parameters and suite files, composed from the run spec models of ``llmeter_core.spec``.

The Prefect UI builds its run form from these models (every field has a description), and a
direct call validates them, listing every field error at once. What pydantic cannot see
(an unknown endpoint field, a payload file that does not parse, a duplicate label) is found
by ``check_plan`` before any request is sent, again reporting every problem, not the first.

A suite file (``deployments/suites/*.yaml``) is a ``SuiteSpec`` in YAML: endpoints x load
plan, with ``${VAR}`` / ``${VAR:-default}`` expanded from the environment so one file serves
laptops and CI (API keys are read by the endpoints from their own environment variables and
never belong in a suite file).
"""

from __future__ import annotations

import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, field_validator, model_validator

from llmeter_core.errors import ConfigError
from llmeter_core.spec import EndpointSpec, LoadSpec, PayloadSpec, RunSpec, format_validation_error, read_yaml

from .layout import slug
from .nightly_params import NIGHTLY_FIELDS, EmulatorSpec, RegressionSpec, check_baseline

__all__ = [
    "SweepConfig",
    "SuiteSpec",
    "endpoint_label",
    "load_suite",
    "parse_suite",
    "expand_env",
    "check_plan",
    "run_spec",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Plan(BaseModel):
    """What every sweep shares: a name, payloads, the load of each run and the client counts."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field("sweep", description="Sweep name: the folder under the results root (letters, digits, . _ -)")
    description: str | None = Field(None, description="Free text recorded in every run's summary.json")
    payloads: PayloadSpec = Field(description="What to send: prompts, or a .json/.jsonl payload file")
    load: LoadSpec = Field(
        description="The load of each run (n_requests per client or run_duration, timeout...); "
        "load.clients is replaced by each entry of `clients`"
    )
    clients: list[PositiveInt] = Field(
        default_factory=lambda: [1, 2, 4, 8],
        min_length=1,
        description="Client counts, one run each, in this order (runs never overlap)",
    )
    results: str | None = Field(
        None,
        description="Results root: a local path or s3://bucket/prefix; default $LLMETER_RESULTS, else ./results",
    )
    live_interval: float = Field(5.0, gt=0, description="Seconds between live metrics updates in the UI")
    seed: int = Field(0, description="Seed of each client's payload order")

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits and . _ - only (it names a folder)")
        return value


class SweepConfig(_Plan):
    """One endpoint under a sequence of client counts (LLMeter's LoadTest)."""

    endpoint: EndpointSpec = Field(description="The endpoint to load (type, model, base_url...)")


class SuiteSpec(_Plan):
    """Several endpoints or models, each swept over the same load plan (a suite file)."""

    endpoints: list[EndpointSpec] = Field(min_length=1, description="Endpoints or models to compare")
    concurrent: bool = Field(
        False,
        description="Sweep different endpoints at the same time (models behind one base_url "
        "always run one after another, so they do not distort each other)",
    )
    # Nightly comparison (flows/nightly_params.py); sweeps built from a suite drop these.
    baseline: str | date | dict[str, int] | None = Field(
        None, description="Nightly baseline: unset = the last earlier run with the same configuration; "
        "{last: N} = their median over N runs; a date YYYY-MM-DD; or a run/night folder URL")
    regression: RegressionSpec = Field(default_factory=RegressionSpec, description="Confidence and thresholds of a regression")
    on_regression: Literal["fail", "warn"] = Field("fail", description="Nightly flow run on a regression: Failed, or a warning")
    emulator: EmulatorSpec | None = Field(None, description="An emulator the nightly starts for itself (demo suites)")

    @field_validator("baseline")
    @classmethod
    def _baseline_policy(cls, value: Any) -> Any:
        return check_baseline(value)

    def sweep_fields(self) -> dict[str, Any]:
        """The plan shared by the sweeps of this suite (a SweepConfig without its endpoint)."""
        return self.model_dump(exclude={"endpoints", "concurrent", *NIGHTLY_FIELDS})

    @model_validator(mode="after")
    def _unique_labels(self) -> "SuiteSpec":
        seen: dict[str, int] = {}
        for index, endpoint in enumerate(self.endpoints):
            label = slug(endpoint_label(endpoint))
            if label in seen:
                raise ValueError(
                    f"endpoints[{index}] and endpoints[{seen[label]}] share the label {label!r}; "
                    "give one an endpoint_name"
                )
            seen[label] = index
        return self


def endpoint_label(endpoint: EndpointSpec) -> str:
    """How an endpoint is named in run folders and tables: its endpoint_name, else its model."""
    return str(endpoint.options().get("endpoint_name") or endpoint.model_id)


def run_spec(plan: _Plan, endpoint: EndpointSpec, clients: int, output: str, run_name: str) -> RunSpec:
    """The RunSpec of one run of a sweep."""
    return RunSpec(
        run_name=run_name,
        run_description=plan.description,
        output=output,
        endpoint=endpoint,
        load=plan.load.model_copy(update={"clients": clients}),
        payloads=plan.payloads,
        live_interval=plan.live_interval,
        seed=plan.seed,
    )


def check_plan(plan: SweepConfig | SuiteSpec) -> None:
    """Build every endpoint and read every payload set, as the runs will; raise one
    ``ConfigError`` listing every problem (``endpoints[1].base_url: ...``). Nothing is sent."""
    if isinstance(plan, SuiteSpec):
        named = [(f"endpoints[{i}]", e) for i, e in enumerate(plan.endpoints)]
    else:
        named = [("endpoint", plan.endpoint)]
    problems: list[str] = []
    for prefix, endpoint in named:
        spec = run_spec(plan, endpoint, max(plan.clients), output="unused", run_name="check")
        try:
            spec.runner(output_path=None, handle_signals=False)
        except ConfigError as exc:
            field = exc.field
            if field.startswith("endpoint."):
                field = f"{prefix}.{field.removeprefix('endpoint.')}"
            elif field == "endpoint":
                field = prefix
            elif field == "payload":
                field = "payloads"
            problems.append(f"{field}: {exc.message}")
    if problems:
        unique = list(dict.fromkeys(problems))
        raise ConfigError(unique[0].split(":", 1)[0], "invalid parameters\n  " + "\n  ".join(unique))


def expand_env(value: Any) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string of a loaded YAML tree."""
    if isinstance(value, str):
        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            found = os.environ.get(name)
            if found is None or (found == "" and default is not None):
                if default is None:
                    raise ConfigError(name, f"environment variable ${{{name}}} is not set (or give ${{{name}:-default}})")
                return default
            return found

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    return value


def parse_suite(data: Any, base_dir: Path | None = None) -> SuiteSpec:
    """Validate a loaded suite mapping; relative payload files resolve against ``base_dir``."""
    if not isinstance(data, dict):
        raise ConfigError("suite", "a suite file must be a YAML mapping")
    try:
        suite = SuiteSpec.model_validate(expand_env(data))
    except ValidationError as exc:
        raise format_validation_error(exc) from None
    if base_dir is not None and suite.payloads.file and not Path(suite.payloads.file).is_absolute():
        suite.payloads.file = str((base_dir / suite.payloads.file).resolve())
    return suite


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file (every error listed, with its dotted field)."""
    return parse_suite(read_yaml(path, "suite"), base_dir=Path(path).parent)
