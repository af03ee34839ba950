"""What can go wrong on the wire, as the project's HTTP/1.1 client reports it.

Callers keep these types (the OpenAI endpoints record their names as ``error_type``) or turn
them into their own: ``ErrorMapper`` says how a failure in the middle of a body is raised to
its reader (the AWS session maps them to botocore's, see ``aws_session``).

``RequestNotSent`` is the one failure after which a request may be sent again, because not a
byte of it left (``Endpoint.call`` does it once, see ``base.py``). ``SendCancelled`` is a
request cancelled before it was written: never a request the server could have seen.
"""

from __future__ import annotations

__all__ = [
    "ProtocolError",
    "ServerDisconnected",
    "ReadTimeout",
    "ConnectError",
    "ConnectTimeout",
    "TLSError",
    "RequestNotSent",
    "SendCancelled",
    "ErrorMapper",
]


class ProtocolError(Exception):
    """The server sent something that is not HTTP/1.1 as expected."""


class ServerDisconnected(ConnectionError):
    """The connection closed before the response ended (before its head, or mid-body)."""


class ReadTimeout(TimeoutError):
    """No data within the read timeout (only when one is set: the OpenAI endpoints leave the
    per-request timeout to ``Endpoint.call``)."""


class ConnectError(ConnectionError):
    """The TCP (or TLS) connection to the server could not be opened."""


class ConnectTimeout(ConnectError):
    """No connection within the connect timeout."""


class TLSError(ConnectError):
    """The TLS handshake failed (certificate not trusted, wrong host...)."""


class RequestNotSent(Exception):
    """Raised by a transport when it can prove that not a byte of the request left (the
    socket refused the write: the connection had already been reset). Only then may a
    request be sent again: ``Endpoint.call`` does it once, counts it in ``retries`` and times
    the request from the new attempt. Any failure after the write is recorded as it is."""


class SendCancelled(Exception):
    """The request's task was cancelled (the run ended, was interrupted or stopped) while the
    request waited for a connection: a free slot of ``max_connections``, or its TCP/TLS
    connect. Not a byte of it was written, so the server never saw it, and the runner counts
    it as unsent, never as a recorded request (an overloaded open-loop run can have thousands
    waiting when it stops). Raised in place of the ``CancelledError``; ``Endpoint.call``
    consumes the cancellation (``uncancel``)."""

    error_type = "unsent"


class ErrorMapper:
    """Turns the failures of a body read into the caller's exception types. The default keeps
    them: a mid-body failure is a ``ServerDisconnected`` (or the ``ProtocolError``)."""

    def streaming(self, exc: BaseException, url: str) -> BaseException:
        """The error a body read raises after the connection failed mid-body."""
        if isinstance(exc, (ServerDisconnected, ProtocolError)):
            return exc
        return ServerDisconnected(f"connection lost mid-response: {exc!r}")

    def read_timeout(self, url: str, message: str) -> BaseException:
        return ReadTimeout(message)
