"""``CacheBuster``: make every request a prompt-cache miss.

Prompt caches (Bedrock prompt caching, OpenAI's automatic prefix cache, vLLM/SGLang prefix
caching) reuse the work done on a prompt *prefix* seen before. A load test that replays a few
payloads therefore measures cache hits: short TTFT, cheap input tokens. To measure the
uncached path, ``CacheBuster`` puts a unique marker (a fresh uuid4) at the very start of
each request's prompt text, so no two requests share even a one-token prefix.

Where the marker goes: the first text of the prompt in reading order, because caches match
from the start. That is the system prompt when there is one (Converse/Anthropic ``system``,
OpenAI Responses ``instructions``, an OpenAI chat ``system``/``developer`` message), else the
first message's first text part; or ``prompt`` / ``inputText`` / ``inputs`` / a Responses
string ``input``. With ``position="first_user"`` it goes into the first user message instead,
leaving the system prompt cacheable (to measure "shared system prompt, unique question").

Costs: the marker adds a dozen or so input tokens per request, and the payload copy copies
only the dicts and lists on the path to the changed text (strings are shared), so it stays
cheap on the client's path. A payload with no text it recognises is sent unchanged and
counted in ``cache_buster_unchanged_requests`` (stats.json), so a mistake cannot go unseen.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from .callbacks import Callback
from .errors import ConfigError

__all__ = ["CacheBuster", "bust_payload"]

_SYSTEM_ROLES = ("system", "developer")


class CacheBuster(Callback):
    """A callback that prefixes each payload's prompt with a unique marker (see module doc).

    ``template`` formats the marker from ``{nonce}`` (32 hex digits).
    """

    def __init__(self, position: Literal["start", "first_user"] = "start", template: str = "[{nonce}]\n"):
        if position not in ("start", "first_user"):
            raise ConfigError("cache_buster.position", f"expected 'start' or 'first_user', got {position!r}")
        if "{nonce}" not in template:
            raise ConfigError("cache_buster.template", "must contain {nonce}")
        self.position = position
        self.template = template
        self.busted = 0
        self.unchanged = 0

    async def before_invoke(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        marker = self.template.format(nonce=uuid.uuid4().hex)
        new = bust_payload(payload, marker, self.position)
        if new is None:
            self.unchanged += 1
            return None
        self.busted += 1
        return new

    def contributed_stats(self) -> dict[str, Any]:
        return {"cache_buster_requests": self.busted, "cache_buster_unchanged_requests": self.unchanged}

    def to_config(self) -> dict[str, Any]:
        return {**super().to_config(), "position": self.position, "template": self.template}


def bust_payload(payload: dict[str, Any], marker: str, position: str = "start") -> dict[str, Any] | None:
    """A copy of ``payload`` with ``marker`` prepended to its first prompt text, or None.

    ``payload`` is never modified. Returns None when no prompt text is found.
    """
    if position == "start":
        for key in ("system", "instructions"):
            if key in payload:
                new_value = _prefix_content(payload[key], marker)
                if new_value is not None:
                    return {**payload, key: new_value}
    messages = payload.get("messages")
    if isinstance(messages, list):
        new_messages = _prefix_messages(messages, marker, position)
        if new_messages is not None:
            return {**payload, "messages": new_messages}
    if "input" in payload:  # OpenAI Responses: a string or a list of items
        value = payload["input"]
        new_value = _prefix_content(value, marker) if isinstance(value, str) else None
        if isinstance(value, list):
            new_value = _prefix_messages(value, marker, position)
        if new_value is not None:
            return {**payload, "input": new_value}
    for key in ("prompt", "inputText", "inputs"):
        if key in payload:
            new_value = _prefix_content(payload[key], marker)
            if new_value is not None:
                return {**payload, key: new_value}
    return None


def _prefix_messages(messages: list[Any], prefix: str, position: str) -> list[Any] | None:
    """Messages with the first eligible text prefixed (a new list sharing untouched items)."""
    for index, message in enumerate(messages):
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if position == "first_user" and role not in (None, "user"):
            continue
        if "content" not in message:
            continue
        new_content = _prefix_content(message["content"], prefix)
        if new_content is None:
            continue
        new_messages = list(messages)
        new_messages[index] = {**message, "content": new_content}
        return new_messages
    return None


def _prefix_content(content: Any, prefix: str) -> Any:
    """``content`` (a string, a text part, or a list of parts) with its first text prefixed.

    Parts are Converse ``{"text": ...}``, OpenAI ``{"type": "text"|"input_text", "text": ...}``
    and Anthropic ``{"type": "text", "text": ...}``; others (images, cache points) are skipped.
    """
    if isinstance(content, str):
        return prefix + content
    if isinstance(content, dict):
        if isinstance(content.get("text"), str):
            return {**content, "text": prefix + content["text"]}
        return None
    if isinstance(content, list):
        for index, part in enumerate(content):
            new_part = _prefix_content(part, prefix) if isinstance(part, (str, dict)) else None
            if new_part is not None:
                new_list = list(content)
                new_list[index] = new_part
                return new_list
    return None
