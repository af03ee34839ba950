"""Where a sweep's files go, and what they are called.

One layout for every flow, so a reader finds any night's numbers without asking::

    <root>/<suite or sweep>/<date-time>/<run_name>/{run_config,summary,stats}.json, responses.jsonl
    <root>/<suite or sweep>/<date-time>/sweep-summary.{csv,parquet}
    <root>/<suite or sweep>/<date-time>/report.html  (the shareable HTML report)
    <root>/<suite or sweep>/<date-time>/charts/*.png

``root`` is any fsspec URL (a local path or ``s3://bucket/prefix``). It comes from a flow
parameter, else the ``LLMETER_RESULTS`` environment variable, else ``./results``; it is
resolved when the flow *runs*, so a deployment built on one machine writes where the machine
running it says.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timezone

__all__ = [
    "RESULTS_ENV",
    "DEFAULT_RESULTS",
    "results_root",
    "stamp",
    "slug",
    "join_url",
    "sweep_folder",
    "run_name_for",
]

RESULTS_ENV = "LLMETER_RESULTS"
DEFAULT_RESULTS = "./results"

_SLUG_BAD = re.compile(r"[^a-z0-9]+")


def results_root(explicit: str | None = None) -> str:
    """The results root: ``explicit``, else ``$LLMETER_RESULTS``, else ``./results``.

    A local root is made absolute so the URLs written into summaries and artifacts still
    point at the files when read from another working directory.
    """
    root = explicit or os.environ.get(RESULTS_ENV) or DEFAULT_RESULTS
    if "://" not in root:
        root = os.path.abspath(os.path.expanduser(root))
    return root.rstrip("/")


def stamp(now: datetime | None = None) -> str:
    """A sortable UTC date-time folder name, e.g. ``2025-11-28T02-00-00Z``.

    No colons: they are awkward in S3 console URLs and invalid in Windows paths.
    """
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return now.strftime("%Y-%m-%dT%H-%M-%SZ")


def slug(text: str, fallback: str = "run") -> str:
    """Lowercase letters, digits and ``-`` only: safe as a folder and as a Prefect artifact key."""
    cleaned = _SLUG_BAD.sub("-", text.lower()).strip("-")
    return cleaned or fallback


def join_url(base: str, *parts: str) -> str:
    """Join path parts onto a local path or URL with ``/`` (fsspec accepts it for both)."""
    out = base.rstrip("/")
    for part in parts:
        part = part.strip("/")
        if part:
            out = f"{out}/{part}"
    return out


def sweep_folder(root: str, name: str, when: str | None = None) -> str:
    """``<root>/<name>/<date-time>``: one folder per sweep (or per night of a suite)."""
    return join_url(root, slug(name, "sweep"), when or stamp())


def run_name_for(clients: int | None, label: str | None = None, rate: float | None = None) -> str:
    """``00004-clients`` as LLMeter's LoadTest names runs, or ``rate-00040`` for an open-loop
    rate (``rate-00002.5`` when it is not whole); prefixed by the endpoint label
    (``gpt-4o-mini-00004-clients``) when several endpoints share one sweep folder."""
    if rate is not None:
        whole = float(rate).is_integer()
        base = f"rate-{int(rate):05d}" if whole else f"rate-{float(rate):07.1f}".rstrip("0").rstrip(".")
    else:
        base = f"{clients:05d}-clients"
    return f"{slug(label)}-{base}" if label else base
