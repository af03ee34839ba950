"""``--help`` that reads well: the Typer app class every ``llmeter-flows`` command line uses.

Typer 0.29 writes a required positional as ``{spec}`` in the usage line (it reads as a set of
choices) and gives every flag a ``<bool>`` type (``--display/--no-display <bool>``,
``--help <bool>``), though a flag takes no value. ``HelpApp`` makes its commands and groups
``HelpCommand`` / ``HelpGroup``, which show a positional by its metavar, upper case
(``SPEC``, ``[SUITE]`` when optional), and a flag without a type. Only the help changes:
parsing is Typer's. (Typer 0.29 carries its own copy of click: its parameter classes are
``typer.core.TyperArgument`` / ``TyperOption``, not click's.)
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

__all__ = ["HelpApp", "HelpCommand", "HelpGroup"]


def _readable(params: list[Any]) -> list[Any]:
    """Positionals named by an upper-case metavar, flags with no type (an empty metavar)."""
    for param in params:
        if isinstance(param, TyperArgument) and param.metavar is None and param.name:
            param.metavar = param.name.upper()
        elif isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


def _usage(command: TyperCommand, ctx: Any) -> list[str]:
    """``[OPTIONS] SPEC``: a required positional bare, an optional one in brackets."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if isinstance(param, TyperArgument):
            name = param.metavar or (param.name or "").upper()
            name = name if param.required else f"[{name}]"
            pieces.append(name + ("..." if param.nargs != 1 else ""))
    return pieces


class HelpCommand(TyperCommand):
    """A Typer command whose help names positionals by metavar and flags without a type."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return _usage(self, ctx)


class HelpGroup(TyperGroup):
    """A Typer group (the app, ``emulator``) whose ``--help`` flag shows no type."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _readable(super().get_params(ctx))


class HelpApp(typer.Typer):
    """``typer.Typer`` whose commands are ``HelpCommand`` and whose group is ``HelpGroup``."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", HelpGroup)
        super().__init__(**kwargs)

    def command(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["cls"] = kwargs.get("cls") or HelpCommand
        return super().command(*args, **kwargs)
