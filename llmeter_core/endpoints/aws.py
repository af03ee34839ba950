"""What every AWS endpoint shares: one aiobotocore client, opened warm, and AWS metadata.

Why aiobotocore rather than boto3: its calls are coroutines on the run's event loop, so no
thread pool and no blocking SDK call sits between a token arriving on the socket and the
clock reading it (LLMeter's thread-per-client boto3 inflated TTFT p50 by ~250 ms at 64
clients on 2 cores).

``AwsEndpoint`` is the base of the Bedrock and SageMaker endpoints. It takes the user's
normal AWS configuration (profile, region, roles, ``AWS_ENDPOINT_URL_*`` variables) and adds
explicit overrides. ``open()`` creates one client whose pool serves every concurrent request
and then pays, before the first measured request, for what would otherwise land in someone's
time to first token: credential resolution (including an assumed role's first refresh),
botocore's per-operation setup (serializer, endpoint rules, signer, parsers), the
HTTP session with its TLS context (~50 ms, built in a thread), and TCP/TLS handshakes for
``prewarm_connections`` pooled connections (default: one per client of the run, see
``base.prewarm_count``, so no client's first request pays one). The warm-up calls go out as
anonymous ``HEAD /`` requests to the endpoint host (see ``_redirect_to_head``): they open
connections without invoking any model or endpoint, cost nothing, and the replies are
ignored. With ``prewarm_connections=0`` nothing is sent: the SDK pipeline is warmed against a
canned local reply and only the handshake is left to the first request.

Failures keep their AWS identity: a failed call's request id and retry count are still
recorded (``invoke`` hands a ``ClientError`` to ``parse_response`` through ``raise_failed``),
and ``Endpoint.error_type`` names it by its AWS error code (``ThrottlingException``...),
which also covers ``EventStreamError`` raised by an ``exception`` message mid-stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from ..checks import check_int
from ..errors import ConfigError
from ..response import InvocationResponse
from .base import Endpoint, check_prewarm, prewarm_count, public_url
from .transport.clients import HttpClient

__all__ = ["AwsEndpoint", "record_metadata", "raise_failed", "RetryMode"]

logger = logging.getLogger(__name__)

#: botocore's retry modes (the ``retry_mode`` option; ``typed_options`` checks it).
RetryMode = Literal["standard", "adaptive", "legacy"]


class AwsEndpoint(Endpoint):
    """Base class of the endpoints that call an AWS runtime API through aiobotocore.

    ``max_attempts`` counts attempts, not retries, and defaults to 1: a load tester must see
    throttling and server errors as they happen. With SDK retries on, a throttled request
    silently becomes a slower successful one, which hides the capacity limit being measured
    (``retries`` still records how many retries the SDK made when you raise it).
    ``max_pool_connections`` caps concurrent connections: keep it at or above the number of
    clients, or requests queue for a connection inside the SDK and that wait is timed as
    latency. ``read_timeout`` is the longest silence allowed between two socket reads.
    ``http_client`` picks the HTTP session under the SDK (``transport.aws_session``):
    ``direct`` (default: a request's bytes leave before any other client runs) or ``aiohttp``
    (aiobotocore's own); why: ``docs/transport.md``.

    A subclass names its ``service_name`` and implements ``invoke`` and ``parse_response``;
    ``open`` warms the SDK with one ``payload_for("warm-up", 1)`` request per connection.
    """

    #: botocore service name, e.g. ``bedrock-runtime``.
    service_name: ClassVar[str] = ""

    def __init__(
        self,
        model_id: str,
        endpoint_name: str | None = None,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        retry_mode: RetryMode = "standard",
        max_attempts: int = 1,
        max_pool_connections: int = 256,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        prewarm_connections: int | None = None,
        http_client: HttpClient = "direct",
        provider: str = "aws",
    ):
        super().__init__(model_id, endpoint_name, provider)
        check_int("endpoint.max_attempts", max_attempts, 1)
        check_int("endpoint.max_pool_connections", max_pool_connections, 1)
        for name, value in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if value <= 0:
                raise ConfigError(f"endpoint.{name}", f"must be a number of seconds > 0, got {value!r}")
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.retry_mode = retry_mode
        self.max_attempts = max_attempts
        self.max_pool_connections = max_pool_connections
        self.connect_timeout = float(connect_timeout)
        self.read_timeout = float(read_timeout)
        check_prewarm(prewarm_connections, max_pool_connections, "max_pool_connections")
        self.prewarm_connections = prewarm_connections
        self.http_client = http_client
        self._client: Any = None
        self._stack: contextlib.AsyncExitStack | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def client(self) -> Any:
        """The open aiobotocore client; a RuntimeError before ``open()``."""
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is not open: use 'async with endpoint:' or await open()")
        return self._client

    async def open(self, clients: int = 1) -> None:
        """Create the client and warm everything a first request would otherwise pay for,
        with one pooled connection per client (``prewarm_count``)."""
        if self._client is not None:
            return
        from aiobotocore.config import AioConfig
        from aiobotocore.session import AioSession

        from .transport.aws_session import AWS_SESSIONS

        session = AioSession(profile=self.profile)
        _share_data_loader(session)
        config = AioConfig(
            retries={"mode": self.retry_mode, "total_max_attempts": self.max_attempts},
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            http_session_cls=AWS_SESSIONS[self.http_client],
        )
        stack = contextlib.AsyncExitStack()
        try:
            self._client = await stack.enter_async_context(
                session.create_client(
                    self.service_name, region_name=self.region, endpoint_url=self.endpoint_url, config=config
                )
            )
            _keep_user_agent_fixed(self._client)
            credentials = await session.get_credentials()
            if credentials is not None:  # resolve (assume a role, fetch IMDS...) now, not mid-run
                frozen = await credentials.get_frozen_credentials()
                for secret in (frozen.access_key, frozen.secret_key, frozen.token):
                    self.add_secret(secret)  # never in an error text, even if a server echoes it
            await self._warm_up(prewarm_count(self.prewarm_connections, clients, self.max_pool_connections))
        except BaseException:
            self._client = None
            await stack.aclose()
            raise
        self._stack = stack

    async def aclose(self) -> None:
        stack, self._stack, self._client = self._stack, None, None
        if stack is not None:
            await stack.aclose()

    async def _warm_up(self, connections: int) -> None:
        """Run ``warm_up_call`` through the whole SDK pipeline, sent as harmless ``HEAD /``s
        that leave ``connections`` connections open (0: one call answered locally)."""
        assert self._client is not None
        events = self._client.meta.events
        event = f"before-send.{self._client.meta.service_model.service_id.hyphenize()}"
        unique_id = f"llmeter-warm-up-{id(self)}"
        events.register_first(event, _redirect_to_head if connections else _answer_locally, unique_id=unique_id)
        try:
            results = await asyncio.gather(
                *(self.warm_up_call() for _ in range(max(1, connections))), return_exceptions=True
            )
        finally:
            events.unregister(event, unique_id=unique_id)
        for result in results:
            if isinstance(result, Exception) and _error_code(result) is None:
                # no HTTP reply at all: the endpoint is unreachable; requests will say why
                logger.debug("AWS warm-up request failed: %s", self.redact(repr(result)))
        if not connections:
            await _create_http_session(self._client)

    async def warm_up_call(self) -> Any:
        """One representative API call: this endpoint's own request for a one-token prompt
        (intercepted before it leaves: see ``_warm_up``)."""
        return await self.invoke(self.prepare_payload(self.payload_for("warm-up", 1)))

    # -- shared pieces -----------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        config = super().to_config()
        config.update(
            region=self.region if self._client is None else self._client.meta.region_name,
            profile=self.profile,
            endpoint_url=public_url(self.endpoint_url),
            retry_mode=self.retry_mode,
            max_attempts=self.max_attempts,
            max_pool_connections=self.max_pool_connections,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            prewarm_connections=self.prewarm_connections,
            http_client=self.http_client,
        )
        return config

    async def call_api(self, operation: str, **params: Any) -> Any:
        """Call ``operation``; a ClientError is *returned* so its metadata can be recorded."""
        from botocore.exceptions import ClientError

        try:
            return await getattr(self.client, operation)(**params)
        except ClientError as exc:
            return exc


def record_metadata(response: dict[str, Any], out: InvocationResponse) -> None:
    """Copy the AWS request id and the SDK's retry count into ``out`` (added to a resend
    ``Endpoint.call`` already counted)."""
    metadata = response.get("ResponseMetadata") or {}
    request_id = metadata.get("RequestId")
    if request_id:
        out.id = request_id
    retries = metadata.get("RetryAttempts")
    if retries is not None:
        out.retries = (out.retries or 0) + retries


def raise_failed(raw: Any, out: InvocationResponse) -> dict[str, Any]:
    """Record the metadata of ``raw`` (an API response or a returned ClientError); re-raise errors."""
    if isinstance(raw, BaseException):
        response = getattr(raw, "response", None)
        if isinstance(response, dict):
            record_metadata(response, out)
        raise raw
    record_metadata(raw, out)
    return raw


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


_data_loader: Any = None


def _share_data_loader(session: Any) -> None:
    """Let every session reuse one botocore data loader, which caches the parsed service
    models and endpoint rules: opening the next endpoint of a sweep skips re-reading them."""
    global _data_loader
    if _data_loader is None:
        _data_loader = session.get_component("data_loader")
    else:
        session.register_component("data_loader", _data_loader)


def _keep_user_agent_fixed(client: Any) -> None:
    """Skip botocore's per-request rebuild of the User-Agent header (~0.1 ms of string work
    per request, re-deriving feature flags): the header built with the client is sent as is.
    Best effort through a private attribute; without it the rebuild simply stays."""
    creator = getattr(client, "_user_agent_creator", None)
    handler = getattr(creator, "rebuild_and_replace_user_agent_handler", None)
    if handler is not None:
        service_id = client.meta.service_model.service_id.hyphenize()
        client.meta.events.unregister(f"request-created.{service_id}", handler)


async def _create_http_session(client: Any) -> None:
    """Create the client's HTTP session and its TLS context without sending anything
    (``prepare`` of the ``transport.aws_session`` classes); aiobotocore would create them in
    the first request (~50 ms). The session is reached through aiobotocore's private
    ``_endpoint``: if that changes, the first request pays for it as before."""
    http_session = getattr(getattr(client, "_endpoint", None), "http_session", None)
    if http_session is not None:
        await http_session.prepare(client.meta.endpoint_url)


def _redirect_to_head(request: Any, **_: Any) -> None:
    """Turn a signed API request into an anonymous ``HEAD /`` on the same host.

    It still travels the SDK's real HTTP path (session, TLS, pooled connection) but invokes
    nothing and carries no credentials; the reply (403/404) is parsed as an error and ignored.
    """
    parts = urlsplit(request.url)
    request.url = urlunsplit((parts.scheme, parts.netloc, "/", "", ""))
    request.method = "HEAD"
    request.body = None
    for name in (
        "Authorization",
        "X-Amz-Security-Token",
        "Content-Length",
        "Content-Type",
        "Transfer-Encoding",
        "X-Amz-Content-SHA256",
    ):
        if name in request.headers:
            del request.headers[name]
    return None


def _answer_locally(request: Any, **_: Any) -> Any:
    """A canned error reply, so ``prewarm_connections=0`` warms the SDK without any traffic."""
    from aiobotocore.awsrequest import AioAWSResponse

    return AioAWSResponse(request.url, 400, {"x-amzn-errortype": "LLMeterWarmUp"}, _Body(b"{}"))


class _Body:
    """The minimal raw body an ``AioAWSResponse`` reads."""

    def __init__(self, data: bytes):
        self._data = data

    async def read(self, amt: int | None = None) -> bytes:
        data, self._data = self._data, b""
        return data
