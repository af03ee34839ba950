"""Links to results that work where a user clicks them.

A ``file://`` path of the worker opens nothing on a laptop, and the v2 UI shows no href for
it: a local result is shown as its path, as text. An ``s3://`` result links to its object
(or folder) in the AWS S3 console, with the ``s3://`` URL as the link text.
"""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["S3_CONSOLE", "console_url", "markdown_link"]

S3_CONSOLE = "https://s3.console.aws.amazon.com/s3"


def console_url(url: str) -> str | None:
    """The S3 console page of an ``s3://bucket/key`` (a folder when it ends in ``/`` or has
    no file extension); None for anything else (a local path has no web page)."""
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url[len("s3://") :].partition("/")
    if not bucket:
        return None
    last = key.rstrip("/").rsplit("/", 1)[-1]
    if not key or key.endswith("/") or "." not in last:
        prefix = key.rstrip("/") + "/" if key else ""
        return f"{S3_CONSOLE}/buckets/{quote(bucket)}?prefix={quote(prefix)}"
    return f"{S3_CONSOLE}/object/{quote(bucket)}?prefix={quote(key)}"


def markdown_link(url: str, text: str | None = None) -> str:
    """Markdown for a result URL: ``[s3://...](console)`` for S3, else the path as code."""
    href = console_url(url)
    if href:
        return f"[{text or url}]({href})"
    return f"{text + ': ' if text else ''}`{url}`"
