"""Flow parameters and suite files, composed from the run spec models of ``llmeter_core.spec``.

The Prefect UI builds its run form from these models (every field has a description), and a
direct call validates them, listing every field error at once. What pydantic cannot see
(an unknown endpoint field, a payload file that does not parse, a duplicate label) is found
by ``check_plan`` before any request is sent, again reporting every problem, not the first.
It runs once per entry (a command, or the flow a deployment starts): inside ``plan_checked``,
the flows started from there (a model_sweep's subflows) do not check again.

A suite file (``deployments/suites/*.yaml``) is a ``SuiteSpec`` in YAML: endpoints x load
plan, with ``${VAR}`` / ``${VAR:-default}`` read from the environment so one file serves
laptops and CI. When the suite is read, every field is expanded except the endpoint options:
those (``headers: {Authorization: "Bearer ${MY_TOKEN}"}``, ``base_url``...) keep their
references in the flow parameters, which the Prefect UI shows and its database keeps, and
are expanded when the endpoint is built inside the run (``EndpointSpec.build``). An
endpoint's ``type``, ``model`` and ``endpoint_name`` name runs and folders, so they are
expanded when the suite is read. API keys are read by the endpoints from their own
environment variables and never belong in a suite file.
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Iterator, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from llmeter_core.bounds import one_bound_problem
from llmeter_core.capacity import CapacitySpec, SearchMode
from llmeter_core.checks import Problems, problems_of
from llmeter_core.errors import ConfigError
from llmeter_core.load_plan import MAX_RATE
from llmeter_core.slo import SLO
from llmeter_core.spec import (
    ClientCount,
    EndpointSpec,
    LiveInterval,
    LoadSpec,
    PayloadSpec,
    RunSpec,
    Seed,
    TokenizerName,
    check_parts,
    expand_env,
    read_yaml,
    validation_problems,
)

from .endpoint_params import EndpointParams, plain_endpoint
from .form_schema import endpoint_first
from .layout import run_name_for, slug
from .nightly_params import NIGHTLY_FIELDS, EmulatorSpec, RegressionSpec, check_baseline

__all__ = [
    "SweepConfig",
    "SuiteSpec",
    "endpoint_label",
    "load_suite",
    "parse_suite",
    "expand_env",
    "check_plan",
    "plan_checked",
    "run_spec",
    "without_prefect_keys",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

#: Endpoint keys expanded when a suite is read (they name runs and folders); every other
#: endpoint option keeps its ``${VAR}`` references until the endpoint is built in the run.
_NAMING_KEYS = ("type", "model", "model_id", "endpoint_name")


#: One run of a sweep: ``("clients", n)`` (closed loop) or ``("rate", r)`` (open loop).
LoadPoint = tuple[str, float]

#: An open-loop rate of a sweep (req/s).
Rate = Annotated[float, Field(gt=0, le=MAX_RATE, allow_inf_nan=False)]


#: Keys the Prefect UI and server use for themselves (``__prefect_kind``...), never user data.
PREFECT_KEY_PREFIX = "__prefect"


def without_prefect_keys(value: Any) -> Any:
    """``value`` with Prefect's internal markers removed at every depth.

    The UI's "Use JSON Input" wraps a section as ``{"__prefect_kind": "json", "value": "<json>"}``;
    the server unwraps the outer marker, but a marker inside the JSON text comes through as
    data (``payloads.extra.__prefect_kind``) and would be sent in every request body. A
    remaining wrapper (``__prefect_kind`` with a ``value``) stands for its value; any other key
    starting with ``__prefect`` is dropped.
    """
    if isinstance(value, list):
        return [without_prefect_keys(item) for item in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("__prefect_kind")
    if kind in ("json", "none") and "value" in value:
        inner = value["value"]
        if kind == "json" and isinstance(inner, str):
            try:
                inner = json.loads(inner)
            except ValueError:
                pass  # not JSON: the field's own validation names the problem
        return without_prefect_keys(inner)
    return {
        key: without_prefect_keys(item)
        for key, item in value.items()
        if not (isinstance(key, str) and key.startswith(PREFECT_KEY_PREFIX))
    }


def _point_load(point: int | LoadPoint) -> dict[str, Any]:
    if isinstance(point, tuple):
        kind, value = point
        return {"clients": int(value)} if kind == "clients" else {"rate": float(value)}
    return {"clients": point}


_RATE: TypeAdapter[float] = TypeAdapter(Rate)
_CLIENT_COUNT: TypeAdapter[int] = TypeAdapter(ClientCount)


class SweepLoad(LoadSpec):
    """A sweep's load: a spec file's ``load`` whose client count comes from ``clients`` (or
    whose rate comes from ``rates``). The rules between load options are checked on each
    run's own load (``run_spec``, by ``check_plan`` before anything is sent), since only
    there is the client count or rate known."""

    clients: SkipJsonSchema[None] = Field(None, exclude=True)
    rate: SkipJsonSchema[None] = Field(None, exclude=True)

    @classmethod
    def load_rules(cls, raw: dict[str, Any]) -> list[str]:
        """Only the one-bound rule here; the rest need the run's clients or rate."""
        problem = one_bound_problem(raw.get("n_requests"), raw.get("run_duration"))
        return [problem] if problem else []

    @field_validator("rate", mode="before")
    @classmethod
    def _rate_comes_from_the_list(cls, value: Any) -> None:
        _RATE.validate_python(value)  # a bad value is named as such first
        raise ValueError(
            "a sweep takes its rates from `rates` (one run each), so load.rate would be ignored: "
            "remove it and list the rates in `rates`"
        )

    @field_validator("clients", mode="before")
    @classmethod
    def _clients_come_from_the_list(cls, value: Any) -> None:
        _CLIENT_COUNT.validate_python(value)  # a bad value is named as such first
        raise ValueError(
            "a sweep takes its client counts from `clients` (one run each), so load.clients would be "
            "ignored: remove it and list the counts in `clients`"
        )


class _Plan(BaseModel):
    """What every sweep shares: a name, payloads, the load of each run and the client counts."""

    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _no_prefect_keys(cls, data: Any) -> Any:
        # Where parameters enter a flow: nothing the Prefect UI adds may reach an endpoint.
        return without_prefect_keys(data)

    name: str = Field("sweep", description="Sweep name: the folder under the results root (letters, digits, . _ -)")
    description: str | None = Field(None, description="Free text recorded in every run's summary.json")
    payloads: PayloadSpec = Field(title="Payloads", description="What to send: prompts, or a .json/.jsonl payload file")
    load: SweepLoad = Field(
        title="Load",
        description="The load of each run (n_requests per client or run_duration, timeout...); "
        "the client counts are `clients`",
    )
    clients: list[ClientCount] = Field(
        default_factory=lambda: [1, 2, 4, 8],
        min_length=1,
        description="Client counts, one run each, in this order (runs never overlap)",
    )
    rates: list[Rate] | None = Field(
        None,
        min_length=1,
        description="Instead of clients: open-loop request rates (req/s), one run each, in this order",
    )
    results: str | None = Field(
        None,
        description="Results root: a local path or s3://bucket/prefix; default $LLMETER_RESULTS, else ./results",
    )
    live_interval: LiveInterval = Field(5.0, description="Seconds between live metrics updates in the UI")
    seed: Seed = Field(0, description="Seed of each client's payload order")
    tokenizer: TokenizerName | None = Field(
        None, description="whitespace (default), tiktoken:<encoding> or hf:<tokenizer.json or folder>; offline only"
    )
    slo: SLO | None = Field(
        None,
        description="Per-request limits (ttft_ms, ttlt_ms, tpot_ms, itl_ms), percentile and max_error_rate: "
        "every run gets slo_attainment, goodput and a verdict; a capacity search needs it",
    )

    @model_validator(mode="before")
    @classmethod
    def _one_load_is_one_run(cls, data: Any) -> Any:
        """``load: {rate: 50}`` (or ``clients: 4``) with no ``rates``/``clients`` list is one run
        at that load, as in a spec file; beside a list it is refused (by ``SweepLoad``)."""
        if not isinstance(data, dict) or not isinstance(data.get("load"), dict):
            return data
        load = data["load"]
        if "rates" in data or "clients" in data:
            return data
        for key, plural, kind in (("rate", "rates", _RATE), ("clients", "clients", _CLIENT_COUNT)):
            if load.get(key) is not None:
                try:
                    kind.validate_python(load[key])
                except ValidationError:
                    return data  # left where it was written, so its error names load.<key>
                rest = {k: v for k, v in load.items() if k != key}
                return {**data, "load": rest, plural: [load[key]]}
        return data

    @model_validator(mode="after")
    def _clients_or_rates(self) -> "_Plan":
        if self.rates is not None and "clients" in self.model_fields_set:
            raise ValueError("give either clients (closed-loop runs) or rates (open-loop runs), not both")
        return self

    def load_points(self) -> list[LoadPoint]:
        """The runs of the sweep, in order: ``("clients", n)`` or ``("rate", r)``."""
        if self.rates is not None:
            return [("rate", float(r)) for r in self.rates]
        return [("clients", int(c)) for c in self.clients]

    @field_validator("name")
    @classmethod
    def _folder_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use letters, digits and . _ - only (it names a folder)")
        return value


class SweepConfig(_Plan):
    """One endpoint under a sequence of client counts (LLMeter's LoadTest)."""

    model_config = ConfigDict(title="Sweep", json_schema_extra=endpoint_first)

    endpoint: EndpointParams = Field(
        title="Endpoint", description="The endpoint to load: choose its type to see its options"
    )


class SuiteSpec(_Plan):
    """Several endpoints or models, each swept over the same load plan (a suite file)."""

    model_config = ConfigDict(title="Suite", json_schema_extra=endpoint_first)

    endpoints: list[EndpointParams] = Field(
        title="Endpoints",
        min_length=1,
        description="Endpoints or models to compare: choose each one's type to see its options",
    )
    concurrent: bool = Field(
        False,
        strict=True,
        description="Sweep different endpoints at the same time (models behind one base_url "
        "always run one after another, so they do not distort each other)",
    )
    # Nightly comparison (flows/nightly_params.py); sweeps built from a suite drop these.
    baseline: str | date | dict[str, int] | None = Field(
        None,
        description="Nightly baseline: unset = the last earlier run with the same configuration; "
        "{last: N} = their median over N runs; a date YYYY-MM-DD; or a run/night folder URL",
    )
    regression: RegressionSpec = Field(
        title="Regression", default_factory=RegressionSpec, description="Confidence and thresholds of a regression"
    )
    on_regression: Literal["fail", "warn"] = Field(
        "fail", description="Nightly flow run on a regression: Failed, or a warning"
    )
    emulator: EmulatorSpec | None = Field(
        None, title="Emulator", description="An emulator the nightly starts for itself (demo suites)"
    )
    # Capacity search (flows/capacity.py); sweeps built from a suite drop these.
    search: SearchMode = Field(
        "rate", description="Capacity search: the highest passing request rate (rate) or client count (clients)"
    )
    capacity: CapacitySpec = Field(
        default_factory=CapacitySpec, description="Capacity search: start, ceiling, precision, repeats and budget"
    )

    @field_validator("baseline")
    @classmethod
    def _baseline_policy(cls, value: Any) -> Any:
        return check_baseline(value)

    def sweep_fields(self) -> dict[str, Any]:
        """The plan shared by the sweeps of this suite (a SweepConfig without its endpoint);
        a sweep over rates leaves its (default) client counts out."""
        unused = {"clients"} if self.rates is not None else set()
        return self.model_dump(exclude={"endpoints", "concurrent", "search", "capacity", *NIGHTLY_FIELDS, *unused})

    def sweep(self, endpoint: EndpointSpec) -> SweepConfig:
        """The sweep of one endpoint of this suite: its payloads, load and load points."""
        return SweepConfig(**self.sweep_fields(), endpoint=endpoint)

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


def point_run_name(point: LoadPoint, label: str | None = None) -> str:
    """The run folder name of one load point (``00004-clients``, ``rate-00040``)."""
    kind, value = point
    return run_name_for(int(value), label) if kind == "clients" else run_name_for(None, label, rate=value)


def run_spec(plan: _Plan, endpoint: EndpointSpec, clients: int | LoadPoint, output: str, run_name: str) -> RunSpec:
    """The RunSpec of one run of a sweep."""
    return RunSpec(
        run_name=run_name,
        run_description=plan.description,
        output=output,
        endpoint=plain_endpoint(endpoint),
        load=LoadSpec(**plan.load.model_dump(), **_point_load(clients)),
        payloads=plan.payloads,
        live_interval=plan.live_interval,
        seed=plan.seed,
        tokenizer=plan.tokenizer,
        slo=plan.slo,
    )


def check_plan(plan: SweepConfig | SuiteSpec) -> None:
    """Build every endpoint and read every payload set, as the runs will; raise one
    ``ConfigError`` listing every problem (``endpoints[1].base_url: ...``). Nothing is sent."""
    if isinstance(plan, SuiteSpec):
        named = [(f"endpoints[{i}]", e) for i, e in enumerate(plan.endpoints)]
    else:
        named = [("endpoint", plan.endpoint)]
    problems = Problems()
    for prefix, endpoint in named:
        spec = run_spec(plan, endpoint, max(plan.load_points(), key=lambda p: p[1]), output="unused", run_name="check")
        shard = {"shard_index": 0} if spec.load.shards > 1 else {}  # one shard's Runner checks them all
        try:
            spec.runner(output_path=None, handle_signals=False, **shard)
        except ConfigError as exc:
            for field, message in problems_of(exc):
                if field == "endpoint" or field.startswith("endpoint."):
                    field = prefix + field.removeprefix("endpoint")
                problems.add(field, message)
    problems.raise_if_any("invalid parameters")


#: Set inside ``plan_checked``: the plan being run was checked by the command or flow that started it.
_CHECKED: ContextVar[bool] = ContextVar("llmeter_plan_checked", default=False)


@contextmanager
def plan_checked(plan: SweepConfig | SuiteSpec | None = None) -> Iterator[None]:
    """Check ``plan`` (``check_plan``) unless what started this code already checked it, then
    run the body as checked: the flows it starts (subflows, or the flow a command runs) skip
    their own check. ``plan=None``: the caller has just checked it itself."""
    if plan is not None and not _CHECKED.get():
        check_plan(plan)
    token = _CHECKED.set(True)
    try:
        yield
    finally:
        _CHECKED.reset(token)


def _expand_suite(data: dict[str, Any], problems: Problems) -> dict[str, Any]:
    """A suite mapping with its ``${VAR}`` references expanded, but for endpoint options
    (see the module docstring); every unset variable is added to ``problems``."""
    expanded: dict[str, Any] = {}
    for key, value in data.items():
        if key == "endpoints" and isinstance(value, list):
            value = [_expand_naming_keys(e, f"endpoints[{i}]", problems) for i, e in enumerate(value)]
        else:
            with problems.collect():
                value = expand_env(value, key)
        expanded[key] = value
    return expanded


def _expand_naming_keys(endpoint: Any, prefix: str, problems: Problems) -> Any:
    if not isinstance(endpoint, dict):
        return endpoint
    expanded = dict(endpoint)
    for key in _NAMING_KEYS:
        if key in expanded:
            with problems.collect():
                expanded[key] = expand_env(expanded[key], f"{prefix}.{key}")
    return expanded


def parse_suite(data: Any, base_dir: Path | None = None) -> SuiteSpec:
    """Validate a loaded suite mapping; relative payload files resolve against ``base_dir``.

    Every problem is reported at once: unset variables, field errors and, when those fail,
    the options of every endpoint and the payload file too (otherwise ``check_plan`` checks
    them before the first request)."""
    if not isinstance(data, dict):
        raise ConfigError("suite", "a suite file must be a YAML mapping")
    problems = Problems()
    expanded = _expand_suite(data, problems)
    try:
        suite = SuiteSpec.model_validate(expanded)
    except ValidationError as exc:
        for field, message in validation_problems(exc).items:
            problems.add(field, message)
        endpoints = expanded.get("endpoints")
        for index, endpoint in enumerate(endpoints if isinstance(endpoints, list) else []):
            check_parts(endpoint, expanded.get("payloads"), base_dir, problems, endpoint_field=f"endpoints[{index}]")
        raise problems.error("invalid suite") from None
    problems.raise_if_any("invalid suite")
    if (
        base_dir is not None
        and suite.payloads.file
        and "://" not in suite.payloads.file
        and not Path(suite.payloads.file).is_absolute()
    ):
        suite.payloads.file = str((base_dir / suite.payloads.file).resolve())
    dataset = suite.payloads.dataset
    if base_dir is not None and dataset is not None:
        dataset.path = dataset.resolve(base_dir.resolve())
    if (
        base_dir is not None
        and suite.tokenizer
        and suite.tokenizer.startswith("hf:")
        and not Path(suite.tokenizer[3:]).expanduser().is_absolute()
    ):
        suite.tokenizer = "hf:" + str((base_dir / suite.tokenizer[3:]).resolve())
    return suite


def load_suite(path: str | Path) -> SuiteSpec:
    """Read and validate a suite file (every error listed, with its dotted field)."""
    return parse_suite(read_yaml(path, "suite"), base_dir=Path(path).parent)
