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
```

Every problem is reported with its dotted field name (``load.clients: ...``); all of them at
once, not just the first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from .cost import Pricing
from .datasets import DatasetSpec
from .endpoints import Endpoint, create_endpoint, endpoint_class
from .errors import ConfigError
from .payloads import is_url, load_payloads
from .synthetic import SyntheticSpec
from .tokenizers import Tokenizer, check_tokenizer_spec, load_tokenizer

__all__ = [
    "EndpointSpec",
    "LoadSpec",
    "PayloadSpec",
    "TokenizerName",
    "RunSpec",
    "load_spec",
    "parse_spec",
    "read_yaml",
    "format_validation_error",
]


def _tokenizer_form(value: str) -> str:
    try:
        return check_tokenizer_spec(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None


#: A ``tokenizer:`` value, its form checked when the spec is read (its file when it is loaded).
TokenizerName = Annotated[str, AfterValidator(_tokenizer_form)]

_SECRET_FIELDS = frozenset({"api_key", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "password"})


class EndpointSpec(BaseModel):
    """Which endpoint to load. Fields other than ``type`` and ``model_id`` are passed to the
    endpoint class (``base_url``, ``stream``, ``region``...)."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, protected_namespaces=())

    type: str = Field(description="Endpoint type, e.g. openai-chat, openai-responses, bedrock-converse-stream")
    model_id: str = Field(alias="model", description="Model id (or SageMaker endpoint name) sent to the API")
    pricing: Pricing | None = Field(None, description="Prices: per 1M tokens and/or per instance hour (cost in stats.json)")

    @model_validator(mode="after")
    def _no_secrets(self) -> "EndpointSpec":
        # Spec files are committed and flow parameters are shown in the Prefect UI: a key
        # written here would leak. Endpoints read keys from the environment instead.
        for name in self.model_extra or {}:
            if name.lower() in _SECRET_FIELDS:
                raise ValueError(
                    f"{name}: secrets do not belong in spec files or flow parameters (the Prefect UI shows "
                    "them); put the key in an environment variable and name it with api_key_env"
                )
        return self

    def options(self) -> dict[str, Any]:
        return dict(self.model_extra or {})

    def build(self) -> Endpoint:
        return create_endpoint(self.type, model_id=self.model_id, **self.options())


class LoadSpec(BaseModel):
    """How much load: closed-loop clients bound by a request count or a duration."""

    model_config = ConfigDict(extra="forbid")

    clients: int = Field(1, ge=1, description="Concurrent clients, each sending its next request when the last ends")
    n_requests: int | None = Field(None, ge=1, description="Requests per client (exclusive with run_duration)")
    run_duration: float | None = Field(None, gt=0, description="Seconds to send for (exclusive with n_requests)")
    timeout: float = Field(60.0, gt=0, description="Per-request timeout in seconds; a timeout is recorded as an error")
    warmup_requests: int = Field(0, ge=0, description="Warm-up requests per client, excluded from stats")
    end_mode: Literal["drain", "cancel"] = Field("drain", description="At the end of a duration: drain in-flight requests or cancel them")
    grace_period: float = Field(30.0, ge=0, description="Seconds to wait for in-flight requests when draining")

    @model_validator(mode="after")
    def _one_bound(self) -> "LoadSpec":
        if (self.n_requests is None) == (self.run_duration is None):
            raise ValueError("give exactly one of n_requests (per client) and run_duration")
        return self


class PayloadSpec(BaseModel):
    """What to send: plain prompts (turned into the endpoint's request body), a payload file,
    or a synthetic workload of asked token lengths."""

    model_config = ConfigDict(extra="forbid")

    prompts: list[str] | None = Field(None, min_length=1, description="Prompts, each sent as a user message")
    file: str | None = Field(None, description="A .json/.jsonl payload file or a folder of them (relative to the spec file)")
    synthetic: SyntheticSpec | None = Field(None, description="Prompts and replies of asked token lengths (seeded)")
    dataset: DatasetSpec | None = Field(None, description="User turns of a ShareGPT-style conversation file")
    max_tokens: int | None = Field(None, ge=1, description="Maximum output tokens (with prompts)")
    extra: dict[str, Any] = Field(default_factory=dict, description="Keys merged into every payload (temperature, ...)")

    @model_validator(mode="after")
    def _one_source(self) -> "PayloadSpec":
        sources = [name for name in ("prompts", "file", "synthetic", "dataset") if getattr(self, name) is not None]
        if len(sources) != 1:
            raise ValueError("give exactly one of prompts, file, synthetic and dataset")
        if self.file is not None and self.max_tokens is not None:
            raise ValueError("max_tokens applies to prompts; with a file, put it in the payloads")
        if self.synthetic is not None and self.max_tokens is not None:
            raise ValueError("max_tokens applies to prompts; with synthetic, output_tokens sets it")
        if self.dataset is not None and self.max_tokens is not None:
            raise ValueError("max_tokens applies to prompts; with a dataset, set dataset.max_tokens")
        return self

    def build_workload(self, endpoint: Endpoint, base_dir: Path | None = None,
                       tokenizer: Tokenizer | None = None) -> tuple[list[dict[str, Any]], list[Any]]:
        """The payloads and the callbacks that record what each asked for (synthetic lengths)."""
        if self.synthetic is not None:
            from .synthetic import build_synthetic

            payloads, lengths = build_synthetic(self.synthetic, endpoint, tokenizer or load_tokenizer(None), self.extra)
            return payloads, [lengths]
        return self.build(endpoint, base_dir), []

    def build(self, endpoint: Endpoint, base_dir: Path | None = None) -> list[dict[str, Any]]:
        """The payloads: prompts in the endpoint's own request body, or a file's bodies."""
        if self.synthetic is not None:
            return self.build_workload(endpoint, base_dir)[0]
        if self.prompts is not None:
            return [endpoint.payload_for(p, self.max_tokens, **self.extra) for p in self.prompts]
        if self.dataset is not None:
            from .datasets import build_dataset

            return build_dataset(self.dataset, endpoint, base_dir, self.extra)
        if is_url(self.file):  # type: ignore[arg-type]
            return [{**p, **self.extra} for p in load_payloads(self.file)]  # type: ignore[arg-type]
        path = Path(self.file)  # type: ignore[arg-type]
        if base_dir is not None and not path.is_absolute():
            path = base_dir / path
        return [{**p, **self.extra} for p in load_payloads(path)]


class RunSpec(BaseModel):
    """One load-test run."""

    model_config = ConfigDict(extra="forbid")

    run_name: str | None = Field(None, description="Run folder name; default: the UTC start time")
    run_description: str | None = Field(None, description="Free text kept in summary.json")
    output: str = Field("./results", description="Results root: a local path or s3://bucket/prefix")
    endpoint: EndpointSpec
    load: LoadSpec
    payloads: PayloadSpec
    live_interval: float = Field(5.0, gt=0, description="Seconds between live stats snapshots")
    low_memory: bool = Field(False, description="Keep responses on disk only")
    cache_buster: bool = Field(False, description="Make every payload unique so the run measures prompt-cache misses")
    plots: bool = Field(True, description="Write latency heatmaps and TTFT/TTLT histograms to <run>/plots/")
    seed: int = Field(0, description="Seed of each client's payload shuffle")
    tokenizer: TokenizerName | None = Field(
        None, description="whitespace (default), tiktoken:<encoding> or hf:<tokenizer.json or folder>; offline only")
    base_dir: Path | None = Field(None, exclude=True, description="Folder that relative paths are read from")

    def runner(self, **overrides: Any):
        """Build the endpoint, read the payloads and return a ready ``Runner``."""
        from .runner import Runner

        endpoint = self.endpoint.build()
        tokenizer = load_tokenizer(self.tokenizer, self.base_dir) if self.tokenizer is not None else None
        payloads, workload = self.payloads.build_workload(endpoint, self.base_dir, tokenizer)
        options: dict[str, Any] = dict(
            clients=self.load.clients,
            n_requests=self.load.n_requests,
            run_duration=self.load.run_duration,
            timeout=self.load.timeout,
            warmup_requests=self.load.warmup_requests,
            end_mode=self.load.end_mode,
            grace_period=self.load.grace_period,
            output_path=self.output,
            run_name=self.run_name,
            run_description=self.run_description,
            live_interval=self.live_interval,
            low_memory=self.low_memory,
            seed=self.seed,
        )
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


def format_validation_error(exc: ValidationError, prefix: str = "") -> ConfigError:
    """One ConfigError listing every problem, each with its dotted field name."""
    lines = []
    first = None
    for error in exc.errors():
        loc = ".".join(str(p) for p in error["loc"] if p not in ("function-after",)) or "spec"
        loc = f"{prefix}{loc}" if prefix else loc
        first = first or loc
        message = error["msg"].removeprefix("Value error, ")
        lines.append(f"{loc}: {message}")
    return ConfigError(first or "spec", "invalid spec\n  " + "\n  ".join(lines))


def parse_spec(data: Any, base_dir: Path | None = None) -> RunSpec:
    if not isinstance(data, dict):
        raise ConfigError("spec", "a spec file must be a YAML mapping")
    try:
        spec = RunSpec.model_validate(data)
    except ValidationError as exc:
        raise format_validation_error(exc) from None
    spec.base_dir = base_dir
    endpoint_class(spec.endpoint.type)  # unknown type: a clear error now, not at run time
    return spec


def read_yaml(path: str | Path, field: str = "spec") -> Any:
    """A YAML file's content; a missing or unparsable file is a ConfigError naming ``field``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(field, f"{path}: no such file")
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(field, f"{path}: not valid YAML: {exc}") from None


def load_spec(path: str | Path) -> RunSpec:
    return parse_spec(read_yaml(path), base_dir=Path(path).parent)
