"""Conversation datasets as payloads: ShareGPT-style JSON or JSONL, local or any fsspec URL.

``payloads: {dataset: {...}}`` in a spec or suite file::

    dataset:
      path: data/sharegpt.json        # or s3://bucket/sharegpt.jsonl, relative to the spec file
      format: sharegpt
      turns: first                    # first: each conversation's first user turn;
                                      # each: every user turn, each its own request
      max_tokens: 256                 # asked of every request (optional)
      limit: 1000                     # at most this many prompts (in file order)

A conversation is an object with ``conversations`` (ShareGPT: ``[{"from": "human" | "gpt" |
"system", "value": ...}]``) or ``messages`` (``[{"role": "user" | "assistant" | "system",
"content": ...}]``). A JSON file holds a list of them, a JSONL file one a line. Each user
turn's text becomes a prompt in the endpoint type's own request body (``payload_for``), so
one dataset drives every API. Conversations without a user turn are skipped and counted
(``skipped``); a file with no usable turn at all is bad input.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field

from .errors import PayloadError
from .payloads import is_url, read_url_bytes

__all__ = ["DatasetSpec", "read_conversations", "user_turns", "dataset_prompts", "build_dataset"]

_USER = frozenset({"human", "user"})


class DatasetSpec(BaseModel):
    """``payloads.dataset``: see the module docstring."""

    model_config = ConfigDict(extra="forbid")

    path: str = Field(description="A .json or .jsonl file: a local path (relative to the spec file) or an fsspec URL")
    format: Literal["sharegpt"] = Field("sharegpt", description="sharegpt: conversations of from/value or role/content")
    turns: Literal["first", "each"] = Field("first", description="first: the first user turn; each: every user turn")
    max_tokens: int | None = Field(None, ge=1, description="Maximum output tokens asked of every request")
    limit: int | None = Field(None, ge=1, description="At most this many prompts, in file order")

    def resolve(self, base_dir: Path | None) -> str:
        """The dataset's location: URLs as they are, relative paths under ``base_dir``."""
        if is_url(self.path) or base_dir is None or Path(self.path).is_absolute():
            return self.path
        return str(base_dir / self.path)


def read_conversations(location: str) -> list[Any]:
    """Every conversation of a JSON (a list) or JSONL (one a line) file, local or remote."""
    if is_url(location):
        data = read_url_bytes(location)
    else:
        path = Path(location)
        if not path.is_file():
            raise PayloadError(location, "no such file")
        data = path.read_bytes()
    if location.endswith(".jsonl"):
        out = []
        for number, line in enumerate(data.splitlines(), start=1):
            if line.strip():
                try:
                    out.append(orjson.loads(line))
                except orjson.JSONDecodeError as exc:
                    raise PayloadError(location, f"not valid JSON: {exc}", line=number) from None
        return out
    try:
        loaded = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise PayloadError(location, f"not valid JSON: {exc}") from None
    if not isinstance(loaded, list):
        raise PayloadError(location, "a .json dataset must hold a list of conversations (or use .jsonl)")
    return loaded


def user_turns(conversation: Any) -> list[str]:
    """The texts of a conversation's user turns, in order (ShareGPT or role/content)."""
    if not isinstance(conversation, dict):
        return []
    turns = conversation.get("conversations")
    if turns is None:
        turns = conversation.get("messages")
    out: list[str] = []
    if isinstance(turns, list):
        for turn in turns:
            if not isinstance(turn, dict):
                continue
            who = turn.get("from", turn.get("role"))
            text = turn.get("value", turn.get("content"))
            if who in _USER and isinstance(text, str) and text.strip():
                out.append(text)
    return out


def dataset_prompts(
    conversations: Iterable[Any], turns: str = "first", limit: int | None = None
) -> tuple[list[str], int]:
    """(prompts, conversations skipped for having no user turn)."""
    prompts: list[str] = []
    skipped = 0
    for conversation in conversations:
        texts = user_turns(conversation)
        if not texts:
            skipped += 1
            continue
        prompts.extend(texts[:1] if turns == "first" else texts)
        if limit is not None and len(prompts) >= limit:
            return prompts[:limit], skipped
    return prompts, skipped


def build_dataset(
    spec: DatasetSpec, endpoint: Any, base_dir: Path | None, extra: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The dataset's prompts in ``endpoint``'s request body."""
    location = spec.resolve(base_dir)
    prompts, _ = dataset_prompts(read_conversations(location), spec.turns, spec.limit)
    if not prompts:
        raise PayloadError(location, "no conversation has a user turn (human/user) with text")
    return [endpoint.payload_for(prompt, spec.max_tokens, **(extra or {})) for prompt in prompts]
