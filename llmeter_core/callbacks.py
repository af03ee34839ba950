"""Callbacks: hooks a run calls at fixed points, for cost models, cache busting, logging.

Override any of the four hooks. ``before_invoke`` may return a new payload to send instead;
it runs on the client's path to the endpoint, so keep it cheap. ``contributed_stats`` is merged
into stats.json at the end of the run and survives ``Result.load``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .response import InvocationResponse
    from .results import Result
    from .runner import Runner

__all__ = ["Callback"]


class Callback:
    """Base class: every hook is a no-op."""

    async def before_run(self, runner: "Runner") -> None:
        """Once, before the first (warm-up) request."""

    async def before_invoke(self, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Before each measured request. Return a payload to send it instead of ``payload``."""
        return None

    async def after_invoke(self, response: "InvocationResponse") -> None:
        """After each measured request, once it is complete (token counts filled in by the
        tokenizer when the API reports none, time_per_output_token computed), before it is
        recorded in the stats and responses.jsonl: changes made here are recorded."""

    async def after_run(self, result: "Result") -> None:
        """Once, after the run, before stats.json is written."""

    def contributed_stats(self) -> dict[str, Any]:
        """Extra stats.json keys (JSON-serialisable)."""
        return {}

    def to_config(self) -> dict[str, Any]:
        """What run_config.json records about this callback (no secrets)."""
        return {"type": f"{type(self).__module__}.{type(self).__qualname__}"}
