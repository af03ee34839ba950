"""The HTTP sessions of the AWS endpoints (aiobotocore's ``http_session_cls`` extension point),
one per ``http_client`` (``AWS_SESSIONS``), both with ``prepare(url)`` to build their TLS
context before the first request:

- ``DirectHTTPSession`` (``direct``, the default): a thin adapter over the project's own client
  (``pool.ConnectionPool``), which puts a request on the wire before it yields. Why it exists,
  with the figures: ``docs/transport.md``.
- ``AiohttpSession`` (``aiohttp``): aiobotocore's own aiohttp session, unchanged but for
  ``prepare``.

What ``DirectHTTPSession`` adds to the pool: aiobotocore's interface (``send(AWSRequest)`` returning an
``AioAWSResponse``), the request bytes as botocore signed them, the TLS context from
botocore's CA bundle and ``client_cert``, idle connections replaced after 12 s (below AWS's
20 s idle cut), and errors as botocore's own (``EndpointConnectionError``,
``ConnectTimeoutError``, ``SSLError``, ``ReadTimeoutError``, ``ConnectionClosedError``,
``ResponseStreamingError``), so SDK retries and error names work unchanged. When a proxy
applies to a URL (``HTTPS_PROXY``...) the request goes through aiobotocore's aiohttp session
instead.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import SplitResult, urlsplit

from aiobotocore.httpsession import AIOHTTPSession

from .errors import (
    ConnectError,
    ConnectTimeout,
    ErrorMapper,
    ProtocolError,
    ReadTimeout,
    ServerDisconnected,
    TLSError,
)
from .http1 import origin_key, request_head
from .pool import ConnectionPool

__all__ = ["DirectHTTPSession", "AiohttpSession", "AWS_SESSIONS", "request_bytes"]

logger = logging.getLogger(__name__)

_IDLE_LIMIT_S = 12.0


class _BotocoreErrors(ErrorMapper):
    """Body read failures as botocore raises them."""

    def streaming(self, exc: BaseException, url: str) -> BaseException:
        from botocore.exceptions import ResponseStreamingError

        return ResponseStreamingError(error=exc)

    def read_timeout(self, url: str, message: str) -> BaseException:
        from botocore.exceptions import ReadTimeoutError

        return ReadTimeoutError(endpoint_url=url, error=message)


class DirectHTTPSession:
    """aiobotocore ``http_session_cls``: see the module docstring."""

    def __init__(
        self,
        verify: Any = True,
        proxies: dict[str, str] | None = None,
        timeout: Any = None,
        max_pool_connections: int = 10,
        socket_options: Any = None,
        client_cert: Any = None,
        proxies_config: dict[str, Any] | None = None,
        connector_args: dict[str, Any] | None = None,
    ):
        from botocore.httpsession import ProxyConfiguration

        self._init_args = dict(
            verify=verify,
            proxies=proxies,
            timeout=timeout,
            max_pool_connections=max_pool_connections,
            socket_options=socket_options,
            client_cert=client_cert,
            proxies_config=proxies_config,
            connector_args=connector_args,
        )
        self._verify = verify
        self._client_cert = client_cert
        self._proxy_config = ProxyConfiguration(proxies=proxies, proxies_settings=proxies_config)
        if isinstance(timeout, (list, tuple)):
            connect_timeout, self._read_timeout = timeout
        else:
            connect_timeout = self._read_timeout = timeout
        self._pool = ConnectionPool(
            max_connections=max_pool_connections,
            connect_timeout=connect_timeout,
            idle_limit_s=_IDLE_LIMIT_S,
            ssl_context=self._build_ssl_context,
            errors=_BotocoreErrors(),
        )
        self._fallback: Any = None

    async def __aenter__(self) -> "DirectHTTPSession":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._pool.close()
        if self._fallback is not None:
            fallback, self._fallback = self._fallback, None
            await fallback.__aexit__(None, None, None)

    async def prepare(self, url: str) -> None:
        """Build what the first request to ``url`` would otherwise build (the TLS context)."""
        if urlsplit(url).scheme.lower() == "https" and not self._proxy_config.proxy_url_for(url):
            await self._pool.ssl_context()

    def _build_ssl_context(self) -> ssl.SSLContext:
        from botocore.httpsession import create_urllib3_context, get_cert_path

        context = create_urllib3_context()
        if self._verify:
            context.check_hostname = True
            ca_certs = get_cert_path(self._verify)
            if ca_certs:
                context.load_verify_locations(ca_certs)
        else:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if isinstance(self._client_cert, str):
            context.load_cert_chain(self._client_cert)
        elif isinstance(self._client_cert, tuple):
            context.load_cert_chain(*self._client_cert)
        return context

    # -- the aiobotocore interface ---------------------------------------------------------
    async def send(self, request: Any) -> Any:
        from aiobotocore.awsrequest import AioAWSResponse
        from botocore import exceptions as boto

        url = request.url
        if self._proxy_config.proxy_url_for(url):
            return await (await self._fallback_session()).send(request)
        parts = urlsplit(url)
        key = origin_key(parts)
        data = request_bytes(request, parts)
        try:
            raw = await self._pool.request(
                key, url, data, request.method, _request_read_timeout(request, self._read_timeout)
            )
        except ConnectTimeout as exc:
            raise boto.ConnectTimeoutError(endpoint_url=url, error=exc.__cause__ or exc) from None
        except TLSError as exc:
            raise boto.SSLError(endpoint_url=url, error=exc.__cause__ or exc) from None
        except ConnectError as exc:
            raise boto.EndpointConnectionError(endpoint_url=url, error=exc.__cause__ or exc) from None
        except ReadTimeout as exc:
            raise boto.ReadTimeoutError(endpoint_url=url, error=str(exc)) from None
        except (ServerDisconnected, ProtocolError) as exc:
            raise boto.ConnectionClosedError(endpoint_url=url, error=exc) from None
        response = AioAWSResponse(url, raw.status, raw.headers, raw)
        if not request.stream_output:
            await response.content
        return response

    async def _fallback_session(self) -> Any:
        if self._fallback is None:
            self._fallback = AIOHTTPSession(**self._init_args)
            await self._fallback.__aenter__()
        return self._fallback


def _request_read_timeout(request: Any, default: float | None) -> float | None:
    context = getattr(request, "context", None) or {}
    override = context.get("read_timeout") if isinstance(context, dict) else None
    return override if override is not None else default


def request_bytes(request: Any, parts: SplitResult) -> bytes:
    """The HTTP/1.1 bytes of a signed botocore request: ``http1.request_head`` with the headers
    as signed (``Host`` as botocore signs it), a ``Content-Length`` in place of any other
    framing, latin-1 as urllib3 encodes headers."""
    body = request.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    headers = ((name, value.decode() if isinstance(value, bytes) else value) for name, value in request.headers.items())
    head = request_head(request.method, parts, headers)
    if body or request.method not in ("GET", "HEAD"):
        head += f"Content-Length: {len(body)}\r\n"
    return (head + "\r\n").encode("latin-1") + bytes(body)


class AiohttpSession(AIOHTTPSession):
    """aiobotocore's own session (``http_client: aiohttp``), with ``prepare``."""

    async def prepare(self, url: str) -> None:
        """Create the aiohttp session (and its TLS context, ~50 ms: the CA bundle is loaded
        in a thread) without sending anything; aiobotocore would create it in the first
        request. Best effort through its private ``_get_session``: if that changes, the first
        request pays for it as before."""
        get_session = getattr(self, "_get_session", None)
        proxy_config = getattr(self, "_proxy_config", None)
        if get_session is None or proxy_config is None:
            return
        try:
            await get_session(proxy_config.proxy_url_for(url))
        except Exception as exc:  # pragma: no cover - depends on aiobotocore internals
            logger.debug("could not pre-create the HTTP session: %r", exc)


#: ``http_client`` -> the aiobotocore ``http_session_cls``.
AWS_SESSIONS: dict[str, type[Any]] = {"direct": DirectHTTPSession, "aiohttp": AiohttpSession}
