"""Old names that still work for one release: the one helper that maps them to the new name and warns.

Every rename is listed in ``CHANGELOG.md``; a call with an old name raises a ``GetseiDeprecationWarning`` that names
the new one, and giving both names with different values is an error.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from .errors import GetseiDeprecationWarning, ParameterError

__all__ = ["renamed", "renamed_attribute", "renamed_parameters", "warn_renamed"]

_F = TypeVar("_F", bound=Callable[..., Any])

_MISSING: Any = object()


_PACKAGE = str(Path(__file__).resolve().parent)


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside getsei-live, so that the warning points at the user's line
    however deep in the package the old name was seen."""
    frame, level = sys._getframe(1), 1
    while frame is not None and str(Path(frame.f_code.co_filename).resolve()).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level


def warn_renamed(old: str, new: str, *, since: str = "0.2") -> None:
    """Warn that ``old`` is now called ``new``, at the caller's line outside getsei-live."""
    warnings.warn(f"'{old}' is deprecated since getsei-live {since}; use '{new}'.", GetseiDeprecationWarning,
                  stacklevel=_caller_stacklevel())


def renamed_attribute(old: str, new: str, *, since: str = "0.2") -> property:
    """A read-only attribute ``old`` of a record that warns and gives attribute ``new`` (for a class body:
    ``lag = renamed_attribute("lag", "lag_ps")``)."""

    def get(self: Any) -> Any:
        warn_renamed(f"{type(self).__name__}.{old}", f"{type(self).__name__}.{new}", since=since)
        return getattr(self, new)

    return property(get, doc=f"Deprecated: the old name of ``{new}``.")


def renamed(options: dict, old: str, new: str, value: Any = None, default: Any = _MISSING, *,
            since: str = "0.2") -> Any:
    """The value of parameter ``new``, given as ``value`` or under its old name ``old`` in ``options`` (taken out).

    The old name warns (``GetseiDeprecationWarning``); both with different values is a ``ParameterError``; neither
    gives ``default`` (without one, the parameter is required).
    """
    if old in options:
        legacy = options.pop(old)
        warn_renamed(old, new, since=since)
        if value is not None and value != legacy:
            raise ParameterError(f"Give '{new}' once ('{old}' is its old name).")
        return legacy
    if value is None:
        if default is _MISSING:
            raise ParameterError.of(new, "is required.")
        return default
    return value


def renamed_parameters(**new_names: str) -> Callable[[_F], _F]:
    """Let a function still take its keyword parameters' old names (``old="new"``), each through ``renamed``."""
    def decorate(function: _F) -> _F:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            for old, new in new_names.items():
                if old in kwargs:
                    kwargs[new] = renamed(kwargs, old, new, kwargs.get(new))
            return function(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
