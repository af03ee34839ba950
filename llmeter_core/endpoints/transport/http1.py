"""HTTP/1.1 on the wire, without sockets: the head of a request, and a response parser fed
bytes as they arrive.

``ResponseParser`` is what ``connection.Connection`` (the asyncio protocol) runs on every
network read; it knows nothing of sockets or event loops, so it is tested by feeding it bytes
(as aiohttp keeps ``http_parser.py`` apart from ``client_proto.py``). It parses from offset to
offset: the status line and headers (1xx skipped), then a content-length, chunked or
read-until-close body, and reports them to its ``ResponseHandler``: ``head_received`` once per
response, ``body_received`` at most once per ``feed`` (the body bytes of one network read come
joined, so they keep one arrival time) and ``body_ended`` when the body is complete.

``request_head`` is the one builder of request heads, for the OpenAI endpoints (built once,
see ``clients.DirectTransport``) and for the requests botocore signed (``aws_session``).
"""

from __future__ import annotations

from typing import Iterable, Protocol
from urllib.parse import SplitResult

from .errors import ProtocolError

__all__ = ["Key", "origin_key", "request_head", "ResponseHandler", "ResponseParser", "ProtocolError"]

#: ``(scheme, host, port)``: which connections of a pool can serve a URL.
Key = tuple[str, str, int]

_MAX_HEAD_BYTES = 64 * 1024
_MAX_CHUNK_LINE = 4096

# parser states
_IDLE, _HEAD, _LENGTH, _CHUNK_SIZE, _CHUNK_DATA, _CHUNK_END, _TRAILERS, _CLOSE = range(8)

#: Headers the client frames itself: a request always carries its own ``Content-Length``.
_FRAMING = frozenset({"content-length", "transfer-encoding", "expect"})


def origin_key(parts: SplitResult) -> Key:
    """The pool key of a URL: its scheme, host and port (the scheme's default when absent)."""
    scheme = parts.scheme.lower()
    return scheme, parts.hostname or "", parts.port or (443 if scheme == "https" else 80)


def request_head(method: str, parts: SplitResult, headers: Iterable[tuple[str, str]]) -> str:
    """The head of a request to the URL ``parts``, every line ended, without its
    ``Content-Length`` line and the blank line that follow (the caller adds them with the
    body): the request line, ``Host`` (the URL's host without user info or default port, as
    botocore signs it), ``User-Agent: llmeter-flows`` and ``Accept-Encoding: identity``
    (bodies are read as sent, never decompressed) unless ``headers`` set them, then
    ``headers`` in their order, less the framing ones (``Content-Length``,
    ``Transfer-Encoding``, ``Expect``). Text: the caller encodes it as its stack does."""
    kept = [(name, value) for name, value in headers if name.lower() not in _FRAMING]
    names = {name.lower() for name, _ in kept}
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    lines = [f"{method} {target} HTTP/1.1"]
    if "host" not in names:
        host = parts.netloc.rsplit("@", 1)[-1]
        default_port = ":443" if parts.scheme.lower() == "https" else ":80"
        lines.append(f"Host: {host[: -len(default_port)] if host.endswith(default_port) else host}")
    if "user-agent" not in names:
        lines.append("User-Agent: llmeter-flows")
    if "accept-encoding" not in names:
        lines.append("Accept-Encoding: identity")
    lines.extend(f"{name}: {value}" for name, value in kept)
    return "\r\n".join(lines) + "\r\n"


class ResponseHandler(Protocol):
    """What a ``ResponseParser`` reports to (``connection.Connection``)."""

    def head_received(self, status: int, headers: dict[str, str]) -> None:
        """A final (non-1xx) status line and its headers (names lower-case, repeats joined)."""

    def body_received(self, data: bytes) -> None:
        """Body bytes, one piece per ``feed`` at most."""

    def body_ended(self, reusable: bool) -> None:
        """The body is complete. ``reusable``: the connection may carry another request
        (keep-alive, and no byte nobody asked for follows)."""


class ResponseParser:
    """Parses the responses of one connection, one request at a time (see the module
    docstring). ``expect`` before each request; then ``feed`` every network read, and
    ``feed_eof`` when the connection closes. Malformed input raises ``ProtocolError``."""

    __slots__ = ("_handler", "_buffer", "_mode", "_remaining", "_keep_alive", "_no_body")

    def __init__(self, handler: ResponseHandler):
        self._handler = handler
        self._buffer = b""
        self._mode = _IDLE
        self._remaining = 0
        self._keep_alive = False
        self._no_body = False

    def expect(self, no_body: bool = False) -> None:
        """A request was sent: its response comes next (``no_body``: it answers a HEAD)."""
        self._no_body = no_body
        self._mode = _HEAD
        self._buffer = b""

    def feed_eof(self) -> bool:
        """The connection closed. True when that ended a read-until-close body (reported as
        ``body_ended``); False when it cut a response short, or came between responses."""
        if self._mode != _CLOSE:
            return False
        self._mode = _IDLE
        self._handler.body_ended(False)
        return True

    def feed(self, data: bytes) -> None:
        """Parse ``data`` (after what an earlier read left over) from offset to offset.
        Parsing stops at the end of a response: bytes after it are nobody's (the connection
        then is not reusable)."""
        if self._buffer:
            data = self._buffer + data
            self._buffer = b""
        elif self._mode == _CHUNK_SIZE and self._one_chunk(data):
            return
        pos, end = 0, len(data)
        pieces: list[bytes] = []
        while pos < end:
            mode = self._mode
            if mode == _CHUNK_DATA or mode == _LENGTH:
                take = min(self._remaining, end - pos)
                pieces.append(data[pos : pos + take] if take != end or pos else data)
                pos += take
                self._remaining -= take
                if not self._remaining:
                    if mode == _LENGTH:
                        self._end(pieces, pos < end)
                        return
                    self._mode = _CHUNK_END
            elif mode == _CHUNK_END:
                if end - pos < 2:
                    break
                if data[pos : pos + 2] != b"\r\n":
                    raise ProtocolError("chunk not followed by CRLF")
                pos += 2
                self._mode = _CHUNK_SIZE
            elif mode == _CHUNK_SIZE:
                i = data.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_CHUNK_LINE:
                        raise ProtocolError("chunk size line too long")
                    break
                line = data[pos:i]
                pos = i + 2
                if b";" in line:
                    line = line.split(b";", 1)[0]
                try:
                    self._remaining = int(line, 16)
                except ValueError:
                    raise ProtocolError(f"bad chunk size {line[:20]!r}") from None
                self._mode = _CHUNK_DATA if self._remaining else _TRAILERS
            elif mode == _HEAD:
                i = data.find(b"\r\n\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_HEAD_BYTES:
                        raise ProtocolError("response headers too large")
                    break
                head = data[pos:i]
                pos = i + 4
                if self._start(head) and not self._remaining and self._mode == _LENGTH:
                    self._end(pieces, pos < end)  # a response without a body
                    return
            elif mode == _TRAILERS:
                i = data.find(b"\r\n", pos)
                if i < 0:
                    if end - pos > _MAX_HEAD_BYTES:
                        raise ProtocolError("trailers too large")
                    break
                last = i == pos
                pos = i + 2
                if last:
                    self._end(pieces, pos < end)
                    return
            elif mode == _CLOSE:
                pieces.append(data[pos:] if pos else data)
                pos = end
            else:  # bytes nobody asked for
                raise ProtocolError("unexpected data from the server")
        if pieces:
            self._handler.body_received(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        if pos < end:
            self._buffer = data[pos:]

    def _one_chunk(self, data: bytes) -> bool:
        """The common reads of a stream, one whole chunk (``size CRLF bytes CRLF``, no
        extension), or the last one with the body's terminator after it (``0 CRLF CRLF``, no
        trailers), fed in one step without the general loop: a streamed token costs one
        ``find`` and one slice here. False (nothing consumed) for anything else, which
        ``feed`` then parses as usual."""
        i = data.find(b"\r\n", 0, 18)  # 16 hex digits at most, as the general path accepts
        if i <= 0:
            return False
        try:
            size = int(data[:i], 16)
        except ValueError:
            return False  # an extension or a bad size: the general path says which
        start = i + 2
        end = start + size
        if size <= 0 or data[end : end + 2] != b"\r\n":
            return False
        rest = len(data) - end
        if rest == 2:
            self._handler.body_received(data[start:end])
            return True
        if rest == 7 and data[end + 2 :] == b"0\r\n\r\n":
            self._end([data[start:end]], False)
            return True
        return False

    def _end(self, pieces: list[bytes], extra: bool) -> None:
        if pieces:
            self._handler.body_received(pieces[0] if len(pieces) == 1 else b"".join(pieces))
        self._mode = _IDLE
        self._handler.body_ended(self._keep_alive and not extra)

    def _start(self, head: bytes) -> bool:
        """Read a status line and headers; choose the body's framing. False for a 1xx (the
        real response follows)."""
        # one decode for the whole head (latin-1 maps every byte), then str operations: a
        # decode per name and per value cost more than the rest of the head together
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/"):
            raise ProtocolError(f"bad status line {lines[0][:40].encode('latin-1')!r}")
        try:
            status = int(parts[1])
        except ValueError:
            raise ProtocolError(f"bad status line {lines[0][:40].encode('latin-1')!r}") from None
        if 100 <= status < 200 and status != 101:
            return False  # 100 Continue and friends
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key in headers:
                headers[key] = f"{headers[key]}, {value.strip()}"
            else:
                headers[key] = value.strip()
        self._keep_alive = parts[0] == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if self._no_body or status in (204, 304):
            self._mode = _LENGTH
            self._remaining = 0
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            self._mode = _CHUNK_SIZE
        elif "content-length" in headers:
            try:
                self._remaining = int(headers["content-length"])
            except ValueError:
                raise ProtocolError(f"bad content-length {headers['content-length'][:20]!r}") from None
            if self._remaining < 0:
                raise ProtocolError(f"bad content-length {headers['content-length'][:20]!r}")
            self._mode = _LENGTH
        else:
            self._mode = _CLOSE
            self._keep_alive = False
        self._handler.head_received(status, headers)
        return True
