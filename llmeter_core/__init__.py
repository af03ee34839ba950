"""llmeter_core: the load-test engine of llmeter-flows (no Prefect import).

Endpoints (``llmeter_core.endpoints``) share one invoke lifecycle; a ``Runner`` drives them
with concurrent asyncio clients bound by a request count or a duration; ``RunningStats``
computes exact stats incrementally; ``Result`` saves and loads run folders on any fsspec URL;
``llmeter_core.emulator`` serves local OpenAI, Bedrock and SageMaker look-alikes.
"""

from __future__ import annotations

from .cache_buster import CacheBuster
from .callbacks import Callback
from .endpoints import ENDPOINT_TYPES, Endpoint, create_endpoint
from .errors import ConfigError, LLMeterError, PayloadError, StorageError, WriteError
from .live import LiveSnapshot
from .payloads import load_payloads
from .response import InvocationResponse
from .results import Result
from .runner import Runner
from .stats import RunningStats

__all__ = [
    "CacheBuster",
    "Callback",
    "ConfigError",
    "ENDPOINT_TYPES",
    "Endpoint",
    "InvocationResponse",
    "LLMeterError",
    "LiveSnapshot",
    "PayloadError",
    "Result",
    "Runner",
    "RunningStats",
    "StorageError",
    "WriteError",
    "create_endpoint",
    "load_payloads",
]
