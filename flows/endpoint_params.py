"""One typed flow-parameter model per endpoint type, generated from the endpoint classes.

The Prefect UI builds its run form from a flow's JSON schema. A plain ``EndpointSpec``
shows only ``type`` and ``model`` (every other option is an "extra"), so a user can neither
see nor edit ``base_url``. Here each type of ``ENDPOINT_TYPES`` gets its own model whose
fields are that class's ``__init__`` options (``accepted_parameters``): the annotation gives
the field's JSON schema, the signature's default its default. The models form a union
discriminated on ``type``: choosing a type in the form shows its fields.

The endpoint classes stay the one home of the option rules. These models do not check the
values in Python (a field accepts anything, as ``EndpointSpec``'s extras do); the class
checks them when the run is built (``check_plan`` before any request, every problem at
once). The JSON schema only gives the form its widgets, and a deployment run's parameters
are checked against it by the server, with the same types the class declares. An unknown
``type`` falls back to the plain ``EndpointSpec``, so the class registry still names the
known types in its error.

Not in the form: ``model_id`` (``model``, on every type), ``provider`` (a label the class
sets), and secrets (``api_key``...: refused in parameters, read from ``api_key_env``).
"""

from __future__ import annotations

import inspect
import typing
from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import ConfigDict, Discriminator, Field, Tag, TypeAdapter, WithJsonSchema, create_model
from pydantic.json_schema import SkipJsonSchema

from llmeter_core.checks import SECRET_OPTIONS
from llmeter_core.endpoints import ENDPOINT_TYPES, accepted_parameters, endpoint_class
from llmeter_core.spec import EndpointSpec

__all__ = ["OPTION_HELP", "TypedEndpoint", "EndpointParams", "endpoint_model", "endpoint_models", "plain_endpoint"]

#: Options that are not form fields (see the module docstring).
_NOT_IN_FORM = frozenset({"model_id", "provider"}) | SECRET_OPTIONS

#: The form's help text of each option (what it does; its rules live in the endpoint class).
OPTION_HELP: dict[str, str] = {
    "base_url": "API base URL, e.g. http://127.0.0.1:8000/v1 (${VAR} references are read in the run)",
    "stream": "Stream the response (time to first token is measured only when streaming)",
    "api_key_env": "Environment variable of the machine running the flow that holds the API key",
    "endpoint_name": "Name of this endpoint in run folders and tables (default: the model id)",
    "headers": "Extra HTTP headers; values may be ${VAR} references, read in the run",
    "max_connections": "Most pooled connections (0: no limit)",
    "extra_body": "Keys merged into every request body",
    "http_client": "direct (the project's HTTP/1.1 client) or aiohttp (behind an HTTP proxy)",
    "prewarm_connections": "Connections opened before the first request (default: one per client, at most 256)",
    "anthropic_version": "The anthropic-version header",
    "region": "AWS region (default: your AWS configuration)",
    "profile": "AWS profile (default: your AWS configuration)",
    "endpoint_url": "AWS endpoint URL override, e.g. an emulator or a VPC endpoint",
    "retry_mode": "botocore retry mode",
    "max_attempts": "SDK attempts per request (1: no SDK retries, so throttling shows as errors)",
    "max_pool_connections": "Most concurrent connections of the AWS client (keep it >= clients)",
    "connect_timeout": "Seconds to open a connection",
    "read_timeout": "Longest silence in seconds between two socket reads",
    "output_format": "Body format of the model family: anthropic, llama, nova, titan, openai, tgi",
    "text_path": "JMESPath of the generated text in a response (overrides output_format)",
    "input_tokens_path": "JMESPath of the input token count in a response",
    "output_tokens_path": "JMESPath of the output token count in a response",
    "cached_input_tokens_path": "JMESPath of the cached input token count in a response",
    "inference_component": "SageMaker inference component to invoke",
    "target_variant": "SageMaker production variant to invoke",
    "api_base": "Base URL passed to LiteLLM (default: the provider's)",
    "num_retries": "LiteLLM retries per request (0: failures show as errors)",
    "extra_params": "Other LiteLLM keyword arguments",
}


def _pricing_last(schema: dict[str, Any]) -> None:
    properties = schema.get("properties", {})
    if "pricing" in properties:
        properties["pricing"] = properties.pop("pricing")  # the form: type, model, options, then prices


class TypedEndpoint(EndpointSpec):
    """Base of the generated models: the declared option fields count as options."""

    model_config = ConfigDict(
        extra="allow", populate_by_name=True, protected_namespaces=(), json_schema_extra=_pricing_last
    )

    def options(self) -> dict[str, Any]:
        """The options given (form fields set, then extras), as the endpoint class takes them."""
        declared = set(type(self).model_fields) - set(EndpointSpec.model_fields)
        given = {name: getattr(self, name) for name in type(self).model_fields if name in declared}
        given = {name: value for name, value in given.items() if name in self.model_fields_set}
        return {**given, **(self.model_extra or {})}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of the ``__init__`` options of ``cls`` and its bases."""
    hints: dict[str, Any] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        try:
            found = typing.get_type_hints(init)
        except Exception:  # noqa: BLE001 - an annotation only importable for type checkers
            found = {}
        for name, hint in found.items():
            hints.setdefault(name, hint)
    return hints


def _field(name: str, param: inspect.Parameter, hint: Any) -> tuple[Any, Any]:
    try:
        schema = TypeAdapter(hint).json_schema()
    except Exception:  # noqa: BLE001 - a type with no JSON schema: a free value in the form
        schema = {}
    required = param.default is inspect.Parameter.empty
    info = Field(
        ... if required else param.default,
        description=OPTION_HELP.get(name, name.replace("_", " ")),
    )
    return Annotated[Any, WithJsonSchema(schema)], info


@cache
def endpoint_model(type_name: str) -> type[TypedEndpoint]:
    """The parameter model of one endpoint type (its class's options as fields)."""
    cls = endpoint_class(type_name)
    hints = _hints(cls)
    fields: dict[str, Any] = {
        "type": (Literal[type_name], Field(type_name, description="Endpoint type (choose it to see its options)")),
    }
    for name, param in accepted_parameters(cls).items():
        if name in _NOT_IN_FORM or name in EndpointSpec.model_fields:
            continue
        fields[name] = _field(name, param, hints.get(name, Any))
    model = create_model(
        "".join(part.capitalize() for part in type_name.split("-")) + "Endpoint",
        __base__=TypedEndpoint,
        __doc__=f"The options of a {type_name} endpoint, checked when the run starts",
        __cls_kwargs__={"title": type_name},  # what the form's type choice shows
        **fields,
    )
    return typing.cast(type[TypedEndpoint], model)


def endpoint_models() -> dict[str, type[TypedEndpoint]]:
    """Every endpoint type's parameter model, by type name (registry order)."""
    return {name: endpoint_model(name) for name in ENDPOINT_TYPES}


def _tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if isinstance(kind, str) and kind in ENDPOINT_TYPES else "other"


def _union() -> Any:
    choices: list[Any] = [Annotated[model, Tag(name)] for name, model in endpoint_models().items()]
    # Any other type: a plain EndpointSpec, refused with the known types when the run is
    # checked; not a choice of the form.
    choices.append(Annotated[SkipJsonSchema[EndpointSpec], Tag("other")])
    return Annotated[Union[tuple(choices)], Discriminator(_tag)]


if TYPE_CHECKING:
    EndpointParams = EndpointSpec
else:
    #: A flow parameter naming one endpoint: the typed model of its ``type``.
    EndpointParams = _union()


def plain_endpoint(endpoint: EndpointSpec) -> EndpointSpec:
    """``endpoint`` as the run spec's ``EndpointSpec`` (its options as extras)."""
    if type(endpoint) is EndpointSpec:
        return endpoint
    data: dict[str, Any] = {"type": endpoint.type, "model": endpoint.model_id, **endpoint.options()}
    if endpoint.pricing is not None:
        data["pricing"] = endpoint.pricing
    return EndpointSpec.model_validate(data)
