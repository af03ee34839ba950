"""Endpoints: one provider API per module, all sharing the lifecycle in ``base.py``.

Three layers, each importing only the ones below it:

- the providers: ``openai_chat``, ``openai_responses``, ``bedrock_converse``,
  ``bedrock_invoke``, ``sagemaker``, ``litellm_endpoint``;
- what several providers share: ``openai_compatible`` (the OpenAI-style HTTP API), ``aws``
  (one aiobotocore client, opened warm), ``model_body`` (bodies in a model family's own JSON,
  with ``response_formats``), and ``base`` (the request lifecycle, for all);
- ``transport/``: HTTP/1.1, the connection pool, and the SSE and eventstream readers.

``ENDPOINT_TYPES`` is the plain registry of spec-file ``type`` names. Each entry names its
class by import path and is imported only when used, so a run against an OpenAI-compatible
server never pays for importing the AWS SDK (and vice versa).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import ConfigError
from .base import Endpoint, extract_prompt

__all__ = ["Endpoint", "ENDPOINT_TYPES", "accepted_parameters", "endpoint_class", "create_endpoint", "extract_prompt"]

ENDPOINT_TYPES: dict[str, str] = {
    "openai-chat": "llmeter_core.endpoints.openai_chat:OpenAIChatEndpoint",
    "openai-responses": "llmeter_core.endpoints.openai_responses:OpenAIResponsesEndpoint",
    "anthropic-messages": "llmeter_core.endpoints.anthropic_messages:AnthropicMessagesEndpoint",
    "bedrock-converse": "llmeter_core.endpoints.bedrock_converse:BedrockConverse",
    "bedrock-converse-stream": "llmeter_core.endpoints.bedrock_converse:BedrockConverseStream",
    "bedrock-invoke": "llmeter_core.endpoints.bedrock_invoke:BedrockInvokeModel",
    "bedrock-invoke-stream": "llmeter_core.endpoints.bedrock_invoke:BedrockInvokeModelStream",
    "sagemaker": "llmeter_core.endpoints.sagemaker:SageMakerEndpoint",
    "sagemaker-stream": "llmeter_core.endpoints.sagemaker:SageMakerStreamEndpoint",
    "litellm": "llmeter_core.endpoints.litellm_endpoint:LiteLLMEndpoint",
}


def endpoint_class(type_name: str) -> type[Endpoint]:
    """The class registered for a spec ``type``; a ConfigError names the known types."""
    try:
        target = ENDPOINT_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(ENDPOINT_TYPES))
        raise ConfigError("endpoint.type", f"unknown endpoint type {type_name!r} (known: {known})") from None
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError("endpoint.type", f"{type_name!r} needs a package that is not installed: {exc}") from exc
    return getattr(module, class_name)


def accepted_parameters(cls: type[Endpoint]) -> dict[str, inspect.Parameter]:
    """Keyword parameters an endpoint class accepts, following ``**kwargs`` up the MRO.

    An endpoint may declare only its own options and forward the rest to its base class with
    ``**options``; the parameters of the base are then accepted too (and checked by name).
    """
    params: dict[str, inspect.Parameter] = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        forwards = False
        for name, p in inspect.signature(init).parameters.items():
            if name == "self" or p.kind is inspect.Parameter.VAR_POSITIONAL:
                continue
            if p.kind is inspect.Parameter.VAR_KEYWORD:
                forwards = True
                continue
            params.setdefault(name, p)
        if not forwards:
            break
    return params


def create_endpoint(type_name: str, **kwargs: Any) -> Endpoint:
    """Build an endpoint from spec fields, naming any unknown or missing field."""
    cls = endpoint_class(type_name)
    params = accepted_parameters(cls)
    for name in kwargs:
        if name not in params:
            raise ConfigError(
                f"endpoint.{name}", f"not a field of endpoint type {type_name!r} (fields: {', '.join(params)})"
            )
    for name, p in params.items():
        if p.default is inspect.Parameter.empty and name not in kwargs:
            raise ConfigError(f"endpoint.{name}", f"required for endpoint type {type_name!r}")
    try:
        return cls(**kwargs)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError("endpoint", f"{type_name}: {exc}") from exc
