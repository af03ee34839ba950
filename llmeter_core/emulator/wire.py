"""Small HTTP helpers shared by the handlers: JSON bodies in and out, prompt word counts."""

from __future__ import annotations

import math
from typing import Any

import orjson
from aiohttp import web

from llmeter_core.emulator.state import count_words

__all__ = ["json_response", "read_json", "retry_after", "content_words", "messages_words", "int_or_none"]


def json_response(obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response encoded with orjson."""
    return web.Response(body=orjson.dumps(obj), status=status, headers=headers, content_type="application/json")


async def read_json(request: web.Request) -> dict | None:
    """The request body as a JSON object, or None when it is not one."""
    raw = await request.read()
    try:
        body = orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def retry_after(seconds: float) -> dict[str, str]:
    """``Retry-After`` (whole seconds, as HTTP wants) plus ``retry-after-ms`` (OpenAI's)."""
    return {"Retry-After": str(max(0, math.ceil(seconds))), "retry-after-ms": str(int(seconds * 1000))}


def content_words(content: Any) -> int:
    """Words in a message content: a string, or a list of parts carrying ``text``."""
    if isinstance(content, str):
        return count_words(content)
    total = 0
    if isinstance(content, list):
        for part in content:
            if isinstance(part, dict):
                total += count_words(part.get("text"))
            elif isinstance(part, str):
                total += count_words(part)
    return total


def messages_words(messages: Any) -> int:
    """Words in a list of chat messages (each with a ``content``)."""
    total = 0
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += content_words(message.get("content"))
    return total


def int_or_none(value: Any) -> int | None:
    """``value`` if it is an int (not a bool), else None: how token caps are read."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None
