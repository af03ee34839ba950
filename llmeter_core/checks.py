"""Option checks shared by the runner, its bounds, the endpoints and the spec files: each
failure is a ConfigError naming the option, raised before anything is sent.

Three kinds of rule live here, each in one place:

- **Limits** (``MAX_CLIENTS``...): the largest values one process can honour. Past them a run
  cannot keep time or memory, so they are refused instead of tried (the README lists them).
- **Types, strictly** (``check_type``, ``typed_options``): a value has the type its annotation
  names, with no coercion: ``"maybe"`` is not a bool, ``True`` is not an int, ``123`` is not
  an API key. An int is accepted where a float is expected.
- **Every problem at once** (``Problems``): checks add to one list; the error lists them all.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import types
import typing
from collections import abc
from contextlib import contextmanager
from typing import Any, Callable, Iterator, TypeVar

from .errors import ConfigError

__all__ = [
    "MAX_CLIENTS",
    "MAX_REQUESTS_PER_CLIENT",
    "MAX_RUN_DURATION_S",
    "MAX_WAIT_S",
    "MIN_LIVE_INTERVAL_S",
    "SEED_RANGE",
    "SECRET_OPTIONS",
    "Problems",
    "check_int",
    "check_seconds",
    "check_type",
    "is_seconds",
    "problems_of",
    "typed_options",
]

log = logging.getLogger(__name__)

#: Concurrent clients of one run. One process drives them all on one event loop, which also
#: timestamps every token: measured with an in-process endpoint (no network), 10,000 clients
#: already stretch a 0.5 s time to first token to 0.67 s (p50), and 100,000 turned a 3 s run
#: into 30 s. For more load, run several processes.
MAX_CLIENTS = 10_000
#: ``n_requests`` and ``warmup_requests`` per client.
MAX_REQUESTS_PER_CLIENT = 1_000_000
#: ``run_duration``: one week.
MAX_RUN_DURATION_S = 7 * 24 * 3600.0
#: ``timeout``, ``grace_period`` and ``live_interval``: one day.
MAX_WAIT_S = 24 * 3600.0
#: ``live_interval``: snapshots more often than this would cost the clients' event loop time.
MIN_LIVE_INTERVAL_S = 0.1
#: ``seed``: a 64-bit integer (it is written to run_config.json).
SEED_RANGE = (-(2**63), 2**63 - 1)

#: Option names whose values are credentials: never shown in an error, refused in spec files.
SECRET_OPTIONS = frozenset({"api_key", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "password"})


def check_int(name: str, value: Any, minimum: int | None, maximum: int | None = None) -> None:
    """A whole number (not a bool) within ``[minimum, maximum]`` when given."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, f"must be a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(name, f"must be >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ConfigError(name, f"must be <= {maximum:,}, got {value:,}")


def is_seconds(value: Any, allow_zero: bool = False) -> bool:
    """A finite positive (or, with ``allow_zero``, non-negative) number of seconds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return False
    return value >= 0 if allow_zero else value > 0


def check_seconds(name: str, value: Any, maximum: float, *, minimum: float = 0.0, allow_zero: bool = False) -> None:
    """A finite number of seconds, > ``minimum`` (>= with ``allow_zero``) and <= ``maximum``."""
    if not is_seconds(value, allow_zero):
        kind = ">= 0" if allow_zero else "> 0"
        raise ConfigError(name, f"must be a finite number of seconds {kind}, got {value!r}")
    if value < minimum:
        raise ConfigError(name, f"must be at least {minimum} s, got {value!r}")
    if value > maximum:
        raise ConfigError(name, f"must be at most {maximum:,.0f} s, got {value!r}")


# -- every problem at once ----------------------------------------------------------------
class Problems:
    """Collects ``(field, message)`` pairs so one error can list every problem.

    ``with problems.collect(prefix):`` records a ``ConfigError`` raised inside (each of its
    problems, when it lists several) and goes on; ``raise_if_any()`` raises one ConfigError:
    the problem itself when there is one, else a list under ``title``.
    """

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def __bool__(self) -> bool:
        return bool(self.items)

    def add(self, field: str, message: str) -> None:
        if (field, message) not in self.items:
            self.items.append((field, message))

    def add_error(self, exc: ConfigError, rename: Callable[[str], str] = lambda f: f) -> None:
        for field, message in problems_of(exc):
            self.add(rename(field), message)

    @contextmanager
    def collect(self, rename: Callable[[str], str] = lambda f: f) -> Iterator[None]:
        try:
            yield
        except ConfigError as exc:
            self.add_error(exc, rename)

    def error(self, title: str = "invalid spec") -> ConfigError:
        if len(self.items) == 1:
            error = ConfigError(*self.items[0])
        else:
            lines = "\n  ".join(f"{field}: {message}" for field, message in self.items)
            error = ConfigError(self.items[0][0], f"{title}: {len(self.items)} problems\n  {lines}")
            error.args = (error.message,)  # the text starts with the title, not the first field
        error.problems = list(self.items)  # type: ignore[attr-defined]
        return error

    def raise_if_any(self, title: str = "invalid spec") -> None:
        if self.items:
            raise self.error(title)


def problems_of(exc: ConfigError) -> list[tuple[str, str]]:
    """The ``(field, message)`` pairs of an error made by ``Problems`` (or its one pair)."""
    return list(getattr(exc, "problems", None) or [(exc.field, exc.message)])


# -- strict types ----------------------------------------------------------------------------
def check_type(name: str, value: Any, annotation: Any, problems: Problems | None = None) -> None:
    """Check ``value`` against a type annotation, strictly (no coercion); a ConfigError (or
    an entry in ``problems``) names ``name``. Annotations it cannot check are accepted."""
    message = _problem(value, annotation, name)
    if message is None:
        return
    if problems is None:
        raise ConfigError(name, message)
    problems.add(name, message)


def _shown(name: str, value: Any) -> str:
    """A value for an error message; the type alone for credentials and header values."""
    leaf = name.rsplit(".", 1)[-1].lower()
    if leaf in SECRET_OPTIONS or leaf == "headers" or "secret" in leaf or "token" in leaf:
        return type(value).__name__
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 60 else text[:57] + '...'}"


def _problem(value: Any, annotation: Any, name: str) -> str | None:
    """Why ``value`` does not fit ``annotation`` (the option being ``name``), or None."""
    expected = _expected(annotation)
    if expected is None:
        return None
    if not _matches(value, annotation):
        return f"must be {expected}, got {_shown(name, value)}"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        member = next(a for a in args if _matches(value, a))
        return _problem(value, member, name)
    if origin in (dict, abc.Mapping, abc.MutableMapping) and len(args) == 2:
        for key, item in value.items():
            if (wrong := _problem(key, args[0], name)) is not None:
                return f"key {key!r} {wrong}"
            if (wrong := _problem(item, args[1], name)) is not None:
                return f"the value of {key!r} {wrong}"
    if (
        origin in (list, tuple, abc.Sequence, abc.Iterable, abc.Collection)
        and args
        and isinstance(value, (list, tuple))
    ):
        member = args[0] if origin is not tuple or len(args) == 2 and args[1] is Ellipsis else Any
        for index, item in enumerate(value):
            if (wrong := _problem(item, member, name)) is not None:
                return f"item {index} {wrong}"
    return None


def _expected(annotation: Any) -> str | None:
    """What an annotation asks for, in words; None when it is not checked."""
    if annotation is Any or annotation is inspect.Parameter.empty or annotation is object:
        return None
    if annotation is bool:
        return "true or false"
    if annotation is int:
        return "a whole number"
    if annotation is float:
        return "a number"
    if annotation is str:
        return "a string"
    if annotation is type(None) or annotation is None:
        return "None"
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        words = [_expected(a) for a in args]
        return None if None in words else " or ".join(dict.fromkeys(w for w in words if w))
    if origin is typing.Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if annotation in (dict, abc.Mapping) or origin in (dict, abc.Mapping, abc.MutableMapping):
        return "a mapping"
    if annotation in (list, tuple) or origin in (list, tuple, abc.Sequence, abc.Collection):
        return "a list"
    if origin is abc.Iterable:
        return "a list"
    if annotation is abc.Callable or origin is abc.Callable:
        return "callable"
    if isinstance(annotation, type):
        if getattr(annotation, "_is_protocol", False) and not getattr(annotation, "_is_runtime_protocol", False):
            return None  # a static Protocol: isinstance cannot check it
        return f"a {annotation.__name__}"
    return None


def _matches(value: Any, annotation: Any) -> bool:
    """The top level of ``value`` has the annotated type (members are checked by _mismatch)."""
    if _expected(annotation) is None:
        return True
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is type(None) or annotation is None:
        return value is None
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return any(value == a and type(value) is type(a) for a in args)
    if annotation in (dict, abc.Mapping) or origin in (dict, abc.Mapping, abc.MutableMapping):
        return isinstance(value, abc.Mapping)
    if annotation in (list, tuple) or origin in (list, tuple, abc.Sequence, abc.Collection):
        return isinstance(value, (list, tuple))
    if origin is abc.Iterable:
        return isinstance(value, abc.Iterable) and not isinstance(value, (str, bytes, abc.Mapping))
    if annotation is abc.Callable or origin is abc.Callable:
        return callable(value)
    return isinstance(value, annotation)


_F = TypeVar("_F", bound=Callable[..., Any])


def typed_options(prefix: str = "", skip: frozenset[str] = frozenset()) -> Callable[[_F], _F]:
    """Decorate an ``__init__``: every argument is checked against its annotation (strictly,
    see ``check_type``) before the body runs, and all mismatches are reported in one
    ConfigError, fields named ``prefix + parameter``. ``skip`` names parameters the body
    checks itself. Annotations that cannot be resolved are not checked."""

    def decorate(function: _F) -> _F:
        signature = inspect.signature(function)
        hints: dict[str, Any] | None = None

        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            nonlocal hints
            if hints is None:
                try:
                    hints = typing.get_type_hints(function)
                except Exception as exc:  # a name only importable under TYPE_CHECKING
                    log.debug("options of %s are not type-checked: %r", function.__qualname__, exc)
                    hints = {}
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError:
                return function(*args, **kwargs)  # the call itself raises the clear TypeError
            problems = Problems()
            for name, value in bound.arguments.items():
                parameter = signature.parameters[name]
                if (
                    name in skip
                    or name not in hints
                    or parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
                ):
                    continue
                check_type(prefix + name, value, hints[name], problems)
            problems.raise_if_any("invalid options")
            return function(*args, **kwargs)

        checked.__typed_options__ = True  # type: ignore[attr-defined]
        return checked  # type: ignore[return-value]

    return decorate
