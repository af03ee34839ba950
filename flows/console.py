"""The ``llmeter-flows`` console script: ``main`` imports the app inside a ``try``.

Importing the app (typer, rich, pydantic, the endpoints) takes a moment; a Ctrl-C in that
moment would otherwise print a traceback from the middle of some import. Here it exits with
status 130 and nothing else, as a Ctrl-C inside a command does (typer maps those to 130).
"""

from __future__ import annotations

import sys

__all__ = ["main"]


def main() -> None:
    try:
        from flows.cli import app

        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover - python -m flows.console
    main()
