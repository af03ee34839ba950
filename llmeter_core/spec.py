"""Spec files: one load-test run described in YAML, validated before anything is sent.

```yaml
run_name: nightly-gpt           # optional; default: the UTC start time
output: ./results               # local path or s3://bucket/prefix
endpoint:
  type: openai-chat             # a key of llmeter_core.endpoints.ENDPOINT_TYPES
  model: my-model               # or model_id
  base_url: http://127.0.0.1:8000/v1
  stream: true                  # other keys go to the endpoint class as they are
load:
  clients: 8
  n_requests: 50                # per client; or run_duration: 60 (seconds)
  timeout: 60
payloads:
  prompts: ["Tell me a story", "Summarise the news"]    # or file: prompts.jsonl
  max_tokens: 128
slo:                            # optional: per-request limits (slo.py); adds slo_met, goodput...
  ttft_ms: 500
  percentile: 90                # share of requests that must meet every limit
```

Every problem is reported with its dotted field name (``load.clients: ...``); all of them at
once, not just the first.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Callable, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from .bounds import one_bound_problem
from .checks import (
    MAX_CLIENTS,
    MAX_REQUESTS_PER_CLIENT,
    MAX_RUN_DURATION_S,
    MAX_WAIT_S,
    MIN_LIVE_INTERVAL_S,
    SECRET_OPTIONS,
    SEED_RANGE,
    Problems,
    problems_of,
)
from .connect_failures import DEFAULT_MAX_CONSECUTIVE
from .cost import Pricing
from .datasets import DatasetSpec
from .endpoints import ENDPOINT_TYPES, Endpoint, accepted_parameters, create_endpoint, endpoint_class
from .errors import ConfigError
from .load_plan import MAX_RATE, MAX_SHARDS, combination_problems
from .payloads import is_url, load_payloads
from .slo import SLO
from .synthetic import SyntheticSpec
from .tokenizers import Tokenizer, check_tokenizer_spec, load_tokenizer
from .yaml_files import expand_env, read_yaml

if TYPE_CHECKING:
    from .runner import Runner

__all__ = [
    "EndpointSpec",
    "LoadSpec",
    "PayloadSpec",
    "TokenizerName",
    "RunSpec",
    "load_spec",
    "parse_spec",
    "read_yaml",
    "build_endpoint",
    "check_parts",
    "expand_env",
    "format_validation_error",
    "validation_problems",
    "ClientCount",
    "LiveInterval",
    "Seed",
]

#: Field types shared by spec files and flow parameters (strict: ``true`` is not a count).
ClientCount = Annotated[int, Field(ge=1, le=MAX_CLIENTS, strict=True)]
LiveInterval = Annotated[float, Field(ge=MIN_LIVE_INTERVAL_S, le=MAX_WAIT_S, strict=True, allow_inf_nan=False)]
Seed = Annotated[int, Field(ge=SEED_RANGE[0], le=SEED_RANGE[1], strict=True)]

_M = TypeVar("_M", bound=BaseModel)


def _with_rules(data: Any, handler: ModelWrapValidatorHandler[_M], rules: Callable[[dict[str, Any]], list[str]]) -> _M:
    """Validate ``data`` and check the cross-field ``rules`` on the raw mapping, listing their
    problems with the field errors: pydantic runs after-validators only once every field is
    valid, which would hide "give exactly one of..." behind a typo until the next run."""
    broken = rules(data) if isinstance(data, dict) else []
    extra = [InitErrorDetails(type=PydanticCustomError("invalid_combination", m), loc=(), input=data) for m in broken]
    try:
        model = handler(data)
    except ValidationError as exc:
        if not extra:
            raise
        errors = [
            InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"]), loc=e["loc"], input=e["input"])
            for e in exc.errors(include_url=False)
        ]
        raise ValidationError.from_exception_data(exc.title, [*errors, *extra]) from None
    if extra:
        raise ValidationError.from_exception_data(type(model).__name__, extra)
    return model


def _tokenizer_form(value: str) -> str:
    try:
        return check_tokenizer_spec(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None


#: A ``tokenizer:`` value, its form checked when the spec is read (its file when it is loaded).
TokenizerName = Annotated[str, AfterValidator(_tokenizer_form)]


class EndpointSpec(BaseModel):
    """Which endpoint to load. Fields other than ``type`` and ``model_id`` are passed to the
    endpoint class (``base_url``, ``stream``, ``region``...)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    type: str = Field(description="Endpoint type, e.g. openai-chat, openai-responses, bedrock-converse-stream")
    model_id: str = Field(alias="model", description="Model id (or SageMaker endpoint name) sent to the API")
    pricing: Pricing | None = Field(
        None, title="Pricing", description="Prices: per 1M tokens and/or per instance hour (cost in stats.json)"
    )

    @model_validator(mode="after")
    def _no_secrets(self) -> "EndpointSpec":
        # Spec files are committed and flow parameters are shown in the Prefect UI: a key
        # written here would leak. Endpoints read keys from the environment instead.
        for name in self.model_extra or {}:
            if name.lower() in SECRET_OPTIONS:
                raise ValueError(
                    f"{name}: secrets do not belong in spec files or flow parameters (the Prefect UI shows "
                    "them); put the key in an environment variable and name it with api_key_env"
                )
        return self

    def options(self) -> dict[str, Any]:
        """The endpoint options as written: ``${VAR}`` references are still references."""
        return dict(self.model_extra or {})

    def build(self) -> Endpoint:
        """The endpoint, its options' ``${VAR}`` references read from the environment now
        (inside the run, so flow parameters only ever hold the references)."""
        return build_endpoint(self.type, self.model_id, self.options())


def build_endpoint(type_name: str, model_id: str, options: dict[str, Any]) -> Endpoint:
    """``create_endpoint`` reporting every problem of the options at once.

    The endpoint classes check their own options and raise at the first bad one. So each
    problem is recorded, the option it names is dropped (its default applies) and the class is
    tried again, until it builds or a problem cannot be stepped over (the type, or a required
    option such as ``base_url``: without a value the class cannot be built to look further);
    one ConfigError then lists them all. Building is cheap: nothing is opened or sent.
    """
    problems = Problems()
    expanded: dict[str, Any] = {}
    for name, value in options.items():
        with problems.collect():
            expanded[name] = expand_env(value, f"endpoint.{name}")
    params = accepted_parameters(endpoint_class(type_name))
    reported = {field.removeprefix("endpoint.") for field, _ in problems.items}
    for _ in range(len(expanded) + 1):
        try:
            endpoint = create_endpoint(type_name, model_id=model_id, **expanded)
        except ConfigError as exc:
            stepped_over = False
            for field, message in problems_of(exc):
                name = field.removeprefix("endpoint.")
                if name in reported:
                    continue  # a required option whose value was already refused
                problems.add(field, message)
                reported.add(name)
                param = params.get(name)
                if name in expanded and (param is None or param.default is not inspect.Parameter.empty):
                    del expanded[name]
                    stepped_over = True
            if not stepped_over:
                break
        else:
            with problems.collect():
                endpoint.check_available()
            if not problems:
                return endpoint
            break
    raise problems.error("invalid endpoint options")


class LoadSpec(BaseModel):
    """How much load: closed-loop ``clients`` or an open-loop ``rate`` (exactly one; neither
    means one client), bound by a request count or a duration."""

    model_config = ConfigDict(extra="forbid")

    clients: ClientCount | None = Field(
        None,
        description=f"Concurrent clients (at most {MAX_CLIENTS:,}), each sending its next request when the last ends "
        "(closed loop; default 1; exclusive with rate)",
    )
    rate: float | None = Field(
        None,
        gt=0,
        le=MAX_RATE,
        strict=True,
        allow_inf_nan=False,
        description="Requests per second sent on a schedule whatever the endpoint does (open loop; exclusive with "
        "clients)",
    )
    arrival: Literal["constant", "poisson", "gamma"] = Field(
        "constant", description="Open loop: how sends are spaced: evenly, Poisson, or gamma (with burstiness)"
    )
    burstiness: float | None = Field(
        None,
        gt=0,
        strict=True,
        allow_inf_nan=False,
        description="Open loop, arrival gamma: the gamma shape (1 = Poisson, < 1 burstier, > 1 smoother)",
    )
    ramp_up: float = Field(
        0.0,
        ge=0,
        le=MAX_RUN_DURATION_S,
        strict=True,
        allow_inf_nan=False,
        description="Open loop: seconds over which the rate rises linearly from 0 to rate",
    )
    max_concurrency: int | None = Field(
        None,
        ge=1,
        le=MAX_CLIENTS,
        strict=True,
        description="Open loop: most requests in flight; a send beyond it waits (recorded as dispatch delay)",
    )
    warmup_seconds: float = Field(
        0.0,
        ge=0,
        le=MAX_WAIT_S,
        strict=True,
        allow_inf_nan=False,
        description="Open loop: seconds of the schedule sent first and excluded from everything",
    )
    stagger: float = Field(
        0.0,
        ge=0,
        le=MAX_RUN_DURATION_S,
        strict=True,
        allow_inf_nan=False,
        description="Closed loop: seconds over which the clients' first sends are spread (seeded; 0: all at once)",
    )
    n_requests: int | None = Field(
        None,
        ge=1,
        le=MAX_REQUESTS_PER_CLIENT,
        strict=True,
        description="Requests per client (closed loop) or in all (open loop); exclusive with run_duration",
    )
    run_duration: float | None = Field(
        None,
        gt=0,
        le=MAX_RUN_DURATION_S,
        strict=True,
        allow_inf_nan=False,
        description="Seconds to send for, at most a week (exclusive with n_requests)",
    )
    timeout: float = Field(
        60.0,
        gt=0,
        le=MAX_WAIT_S,
        strict=True,
        allow_inf_nan=False,
        description="Per-request timeout in seconds; a timeout is recorded as an error",
    )
    warmup_requests: int = Field(
        0, ge=0, le=MAX_REQUESTS_PER_CLIENT, strict=True, description="Warm-up requests per client, excluded from stats"
    )
    end_mode: Literal["drain", "cancel"] = Field(
        "drain", description="At the end of a duration: drain in-flight requests or cancel them"
    )
    grace_period: float = Field(
        30.0,
        ge=0,
        le=MAX_WAIT_S,
        strict=True,
        allow_inf_nan=False,
        description="Seconds to wait for in-flight requests when draining",
    )
    max_consecutive_connect_failures: int = Field(
        DEFAULT_MAX_CONSECUTIVE,
        ge=0,
        le=1_000_000,
        strict=True,
        description="Stop the run (endpoint unreachable) after this many connection failures in a row across "
        "all clients; 0 never stops",
    )

    shards: int = Field(
        1,
        ge=1,
        le=MAX_SHARDS,
        strict=True,
        description="Load-generator processes sharing this run's clients or rate (one merged run folder); "
        "on this machine unless shard_pool is given",
    )
    shard_pool: str | None = Field(
        None,
        min_length=1,
        description="Prefect work pool whose workers run the shards (a load-shard deployment on it); "
        "default: processes on this machine",
    )

    @model_validator(mode="wrap")
    @classmethod
    def _one_bound(cls, data: Any, handler: ModelWrapValidatorHandler["LoadSpec"]) -> "LoadSpec":
        return _with_rules(data, handler, cls.load_rules)

    @classmethod
    def load_rules(cls, raw: dict[str, Any]) -> list[str]:
        """The rules between fields: one bound, and those of ``load_plan.combination_problems``."""
        problem = one_bound_problem(raw.get("n_requests"), raw.get("run_duration"))
        return ([problem] if problem else []) + [f"{f}: {m}" for f, m in combination_problems(raw)]


class PayloadSpec(BaseModel):
    """What to send: plain prompts (turned into the endpoint's request body), a payload file,
    a ShareGPT-style dataset, or a synthetic workload of asked token lengths."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] | None = Field(None, min_length=1, description="Prompts, each sent as a user message")
    file: str | None = Field(
        None, description="A .json/.jsonl payload file or a folder of them (relative to the spec file)"
    )
    synthetic: SyntheticSpec | None = Field(
        None, title="Synthetic", description="Prompts and replies of asked token lengths (seeded)"
    )
    dataset: DatasetSpec | None = Field(
        None, title="Dataset", description="User turns of a ShareGPT-style conversation file"
    )
    max_tokens: int | None = Field(None, ge=1, strict=True, description="Maximum output tokens (with prompts)")
    extra: dict[str, Any] = Field(default_factory=dict, description="Keys merged into every payload (temperature, ...)")

    @model_validator(mode="wrap")
    @classmethod
    def _one_source(cls, data: Any, handler: ModelWrapValidatorHandler["PayloadSpec"]) -> "PayloadSpec":
        def rules(raw: dict[str, Any]) -> list[str]:
            sources = [name for name in ("prompts", "file", "synthetic", "dataset") if raw.get(name) is not None]
            if len(sources) != 1:
                return ["give exactly one of prompts, file, synthetic and dataset"]
            if raw.get("max_tokens") is not None:
                where = {
                    "file": "with a file, put it in the payloads",
                    "synthetic": "with synthetic, output_tokens sets it",
                    "dataset": "with a dataset, set dataset.max_tokens",
                }
                if sources[0] in where:
                    return [f"max_tokens applies to prompts; {where[sources[0]]}"]
            return []

        return _with_rules(data, handler, rules)

    def build_workload(
        self, endpoint: Endpoint | None, base_dir: Path | None = None, tokenizer: Tokenizer | None = None
    ) -> tuple[list[dict[str, Any]], list[Any]]:
        """The payloads and the callbacks that record what each asked for (synthetic lengths)."""
        if self.synthetic is not None:
            if endpoint is None:
                return [], []
            from .synthetic import build_synthetic

            payloads, lengths = build_synthetic(self.synthetic, endpoint, tokenizer or load_tokenizer(None), self.extra)
            return payloads, [lengths]
        return self.build(endpoint, base_dir), []

    def build(self, endpoint: Endpoint | None, base_dir: Path | None = None) -> list[dict[str, Any]]:
        """The payloads: prompts in the endpoint's own request body, or a file's bodies
        (read without an endpoint; prompts, datasets and synthetic workloads need one and
        give [] without)."""
        if self.synthetic is not None:
            return self.build_workload(endpoint, base_dir)[0]
        if self.prompts is not None:
            if endpoint is None:
                return []
            return [endpoint.payload_for(p, self.max_tokens, **self.extra) for p in self.prompts]
        if self.dataset is not None:
            if endpoint is None:
                return []
            from .datasets import build_dataset

            return build_dataset(self.dataset, endpoint, base_dir, self.extra)
        if is_url(self.file):  # type: ignore[arg-type]
            return [{**p, **self.extra} for p in load_payloads(self.file)]  # type: ignore[arg-type]
        path = Path(self.file)  # type: ignore[arg-type]
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return [{**p, **self.extra} for p in load_payloads(path)]


#: Fields of ``RunSpec`` that are not ``Runner`` options of the same name (see ``RunSpec.runner``).
_NOT_RUNNER_OPTIONS = {"endpoint", "load", "payloads", "output", "cache_buster", "base_dir", "plots", "tokenizer"}


class RunSpec(BaseModel):
    """One load-test run."""

    model_config = ConfigDict(extra="forbid")

    run_name: str | None = Field(None, description="Run folder name; default: the UTC start time")
    run_description: str | None = Field(None, description="Free text kept in summary.json")
    output: str = Field("./results", description="Results root: a local path or s3://bucket/prefix")
    endpoint: EndpointSpec
    load: LoadSpec
    payloads: PayloadSpec
    live_interval: LiveInterval = Field(5.0, description="Seconds between live stats snapshots")
    low_memory: bool = Field(False, strict=True, description="Keep responses on disk only")
    cache_buster: bool = Field(
        False, strict=True, description="Make every payload unique so the run measures prompt-cache misses"
    )
    plots: bool = Field(
        True, strict=True, description="Write latency heatmaps and TTFT/TTLT histograms to <run>/plots/"
    )
    seed: Seed = Field(0, description="Seed of each client's payload shuffle")
    tokenizer: TokenizerName | None = Field(
        None, description="whitespace (default), tiktoken:<encoding> or hf:<tokenizer.json or folder>; offline only"
    )
    slo: SLO | None = Field(
        None, description="Per-request limits (ttft_ms, ttlt_ms, tpot_ms, itl_ms), percentile and max_error_rate"
    )
    base_dir: Path | None = Field(None, exclude=True, description="Folder that relative paths are read from")

    def runner(self, **overrides: Any) -> Runner:
        """Build the endpoint, read the payloads and return a ready ``Runner``.

        The Runner's options are derived: every ``load`` field, and every field of this spec
        but ``_NOT_RUNNER_OPTIONS``, is the Runner option of the same name (a new field is one
        there too); ``output`` is ``output_path``, ``cache_buster`` and ``pricing`` callbacks,
        ``tokenizer`` loaded from its name, ``plots`` the CLI's and the task's business."""
        from .runner import Runner

        problems = Problems()
        endpoint, payloads = check_parts(self.endpoint, self.payloads, self.base_dir, problems)
        tokenizer = None
        if self.tokenizer is not None:
            with problems.collect():
                tokenizer = load_tokenizer(self.tokenizer, self.base_dir)
        problems.raise_if_any()
        workload: list[Any] = []
        if self.payloads.synthetic is not None:  # built with the run's tokenizer
            payloads, workload = self.payloads.build_workload(endpoint, self.base_dir, tokenizer)
        assert endpoint is not None and payloads is not None  # else a problem was raised
        options: dict[str, Any] = {
            **self.load.model_dump(),
            **self.model_dump(exclude=_NOT_RUNNER_OPTIONS),
            "output_path": self.output,
        }
        if tokenizer is not None:
            options["tokenizer"] = tokenizer
        if workload:  # first: they find the payloads as built, before any callback replaces them
            options["callbacks"] = list(workload)
        if self.cache_buster:
            from .cache_buster import CacheBuster

            options["callbacks"] = [*options.get("callbacks", []), CacheBuster()]
        if self.endpoint.pricing is not None:
            from .cost import CostModel

            options["callbacks"] = [*options.get("callbacks", []), CostModel(self.endpoint.pricing)]
        options.update(overrides)
        return Runner(endpoint, payloads, **options)


def check_parts(
    endpoint: EndpointSpec | Any,
    payloads: PayloadSpec | Any,
    base_dir: Path | None,
    problems: Problems,
    endpoint_field: str = "endpoint",
) -> tuple[Endpoint | None, list[dict[str, Any]] | None]:
    """Build the endpoint and read the payloads as a run will, adding every problem to
    ``problems`` (endpoint fields renamed under ``endpoint_field``). Either part may be raw
    data from a file: it is then validated first and skipped when invalid, since its field
    errors are reported by the validation of the whole spec."""

    def rename_endpoint(field: str) -> str:
        if field == "endpoint" or field.startswith("endpoint."):
            return endpoint_field + field.removeprefix("endpoint")
        return field

    def rename_payloads(field: str) -> str:
        return "payloads.file" if field == "payload" else field

    built: Endpoint | None = None
    read: list[dict[str, Any]] | None = None
    endpoint_spec = _valid_or_none(EndpointSpec, endpoint)
    if endpoint_spec is not None:
        with problems.collect(rename_endpoint):
            built = endpoint_spec.build()
    payload_spec = _valid_or_none(PayloadSpec, payloads)
    if payload_spec is not None:
        with problems.collect(rename_payloads):
            read = payload_spec.build(built, base_dir)
    return built, read


def _valid_or_none(cls: type[_M], value: Any) -> _M | None:
    if isinstance(value, cls):
        return value
    try:
        return cls.model_validate(value)
    except ValidationError:
        return None


def validation_problems(exc: ValidationError, prefix: str = "") -> Problems:
    """Every problem of a pydantic error, each with its dotted field name
    (``load.clients``, ``endpoints[1].type``)."""
    problems = Problems()
    for error in exc.errors(include_url=False):
        loc = ""
        for part in error["loc"]:
            if isinstance(part, int):
                loc += f"[{part}]"
            elif not str(part).startswith("function-") and part not in ENDPOINT_TYPES and part != "other":
                # (an endpoint type is the tag of a flow parameter's typed endpoint, not a field)
                loc += f".{part}" if loc else str(part)
        loc = prefix + loc if loc else (prefix.rstrip(".") or "spec")
        problems.add(loc, error["msg"].removeprefix("Value error, "))
    return problems


def format_validation_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    """One ConfigError listing every problem, each with its dotted field name."""
    return validation_problems(exc, prefix).error()


def parse_spec(data: Any, base_dir: Path | None = None) -> RunSpec:
    """Validate a loaded spec. Every problem found is reported at once: field errors, the
    bounds, and (when those fail) the endpoint options and payload file too, which are
    otherwise checked when ``runner()`` builds them."""
    if not isinstance(data, dict):
        raise ConfigError("spec", "a spec file must be a YAML mapping")
    try:
        spec = RunSpec.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc)
        check_parts(data.get("endpoint"), data.get("payloads"), base_dir, problems)
        raise problems.error() from None
    spec.base_dir = base_dir
    endpoint_class(spec.endpoint.type)  # unknown type: a clear error now, not at run time
    return spec


def load_spec(path: str | Path) -> RunSpec:
    return parse_spec(read_yaml(path), base_dir=Path(path).parent)
