"""``DirectHTTPSession``: the HTTP/1.1 transport of the AWS endpoints (aiobotocore's
``http_session_cls`` extension point), a thin adapter over the project's own client
(``_pool.ConnectionPool`` of ``_http1.Connection``), which puts a request on the wire before
it yields.

Why not aiohttp, aiobotocore's default: on Python 3.11 aiohttp writes a request body from a
new task (3.12+ starts that task eagerly), so the bytes leave only after every coroutine
that was ready at that moment has run. When many clients send at once (64 clients in step,
the usual shape of a load test), each request waits for the others' SDK work (~1 ms each)
*inside its own measured time*. Measured at 64 ConverseStream clients (TTFT error p50,
``benchmarks/bedrock_ttft_benchmark.py``): 12-14 ms through aiohttp, 1.2-1.3 ms through this
session.

What this adapter adds to the pool: aiobotocore's interface (``send(AWSRequest)`` returning an
``AioAWSResponse``), the request bytes as botocore signed them, the TLS context from
botocore's CA bundle and ``client_cert``, idle connections replaced after 12 s (below AWS's
20 s idle cut), and errors as botocore's own (``EndpointConnectionError``,
``ConnectTimeoutError``, ``SSLError``, ``ReadTimeoutError``, ``ConnectionClosedError``,
``ResponseStreamingError``), so SDK retries and error names work unchanged. When a proxy
applies to a URL (``HTTPS_PROXY``...) the request goes through aiobotocore's aiohttp session
instead.
"""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

from .connection import ErrorMapper, ProtocolError, ReadTimeout, ServerDisconnected
from .pool import ConnectError, ConnectionPool, ConnectTimeout, TLSError

__all__ = ["DirectHTTPSession", "request_bytes"]

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

    def __init__(self, verify: Any = True, proxies: dict[str, str] | None = None, timeout: Any = None,
                 max_pool_connections: int = 10, socket_options: Any = None, client_cert: Any = None,
                 proxies_config: dict[str, Any] | None = None, connector_args: dict[str, Any] | None = None):
        from botocore.httpsession import ProxyConfiguration

        self._init_args = dict(verify=verify, proxies=proxies, timeout=timeout,
                               max_pool_connections=max_pool_connections, socket_options=socket_options,
                               client_cert=client_cert, proxies_config=proxies_config,
                               connector_args=connector_args)
        self._verify = verify
        self._client_cert = client_cert
        self._proxy_config = ProxyConfiguration(proxies=proxies, proxies_settings=proxies_config)
        if isinstance(timeout, (list, tuple)):
            connect_timeout, self._read_timeout = timeout
        else:
            connect_timeout = self._read_timeout = timeout
        self._pool = ConnectionPool(max_connections=max_pool_connections, connect_timeout=connect_timeout,
                                    idle_limit_s=_IDLE_LIMIT_S, ssl_context=self._build_ssl_context,
                                    errors=_BotocoreErrors())
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
        scheme = parts.scheme.lower()
        key = (scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80))
        data = request_bytes(request, parts)
        try:
            raw = await self._pool.request(key, url, data, request.method,
                                           _request_read_timeout(request, self._read_timeout))
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
            from aiobotocore.httpsession import AIOHTTPSession

            self._fallback = AIOHTTPSession(**self._init_args)
            await self._fallback.__aenter__()
        return self._fallback


def _request_read_timeout(request: Any, default: float | None) -> float | None:
    context = getattr(request, "context", None) or {}
    override = context.get("read_timeout") if isinstance(context, dict) else None
    return override if override is not None else default


def request_bytes(request: Any, parts: Any) -> bytes:
    """The HTTP/1.1 bytes of a signed botocore request (headers as signed, ``Host`` as
    botocore signs it, a ``Content-Length`` in place of any other framing)."""
    body = request.body
    if body is None:
        body = b""
    elif hasattr(body, "read"):
        body = body.read()
    if isinstance(body, str):
        body = body.encode()
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    lines = [f"{request.method} {target} HTTP/1.1"]
    names = set()
    for name, value in request.headers.items():
        lower = name.lower()
        if lower in ("expect", "transfer-encoding", "content-length", "host"):
            continue
        names.add(lower)
        lines.append(f"{name}: {value.decode() if isinstance(value, bytes) else value}")
    host = parts.netloc.rsplit("@", 1)[-1]
    default_port = ":443" if parts.scheme.lower() == "https" else ":80"
    if host.endswith(default_port):  # as botocore signs it
        host = host[:-len(default_port)]
    lines.append(f"Host: {host}")
    if body or request.method not in ("GET", "HEAD"):
        lines.append(f"Content-Length: {len(body)}")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + bytes(body)
