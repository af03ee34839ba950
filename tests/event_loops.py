"""Whether uvloop can be imported here: installed, and not hidden (``make test-without-uvloop``
shadows it with ``tests/hide_uvloop``, which an import spec lookup alone would not notice)."""

from __future__ import annotations


def uvloop_importable() -> bool:
    try:
        import uvloop  # noqa: F401
    except ImportError:
        return False
    return True
