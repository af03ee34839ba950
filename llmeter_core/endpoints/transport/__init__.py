"""The transport under the endpoints: HTTP/1.1 and the bytes of the response formats, no API.

- ``http1``: the wire format without sockets (request heads, the response parser).
- ``connection``: one HTTP/1.1 connection as an asyncio protocol, over the parser.
- ``body``: a response body as its connection feeds it, each read stamped on arrival.
- ``pool``: keep-alive connections per host; nothing is ever sent twice.
- ``errors``: what can go wrong on the wire.
- ``clients``: the two HTTP clients of the OpenAI-compatible endpoints (direct, aiohttp)
  behind one small interface.
- ``aws_session``: the HTTP sessions under aiobotocore (direct, aiohttp).
- ``sse``: server-sent events and whole bodies, with their arrival times.
- ``eventstream``: AWS ``vnd.amazon.eventstream`` messages, decoded as they arrive.

Why the project has its own HTTP client: ``docs/transport.md``.
"""
