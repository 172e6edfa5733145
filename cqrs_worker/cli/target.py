"""Importing what ``module:attr`` names, with errors that say what to fix."""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Any

from cqrs_worker.errors import ConfigurationError

__all__ = ["import_target", "load_target"]


def import_target(target: str) -> Any:
    """The object ``module:attr`` names (``attr`` may be dotted).

    The current directory is put on ``sys.path`` first, as ``python -m``
    does. A module that cannot be found, an attribute that is missing and a
    malformed target each raise :class:`~cqrs_worker.errors.ConfigurationError`
    saying which; an error raised *inside* the module propagates unchanged.
    """
    module_name, _, attr = target.partition(":")
    if not module_name or not attr:
        raise ConfigurationError(
            f"expected MODULE:ATTR (e.g. myapp.worker:mediator), got {target!r}"
        )
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(f"{missing}."):
            raise ConfigurationError(
                f"module {module_name!r} not found ({exc}); check the name and that its "
                f"directory is on PYTHONPATH (the current directory is {os.getcwd()!r})"
            ) from exc
        raise
    value: Any = module
    for depth, part in enumerate(attr.split(".")):
        try:
            value = getattr(value, part)
        except AttributeError:
            owner = ".".join([module_name, *attr.split(".")[:depth]])
            public = sorted(name for name in vars(value) if not name.startswith("_"))
            shown = ", ".join(public[:12]) + (", ..." if len(public) > 12 else "")
            raise ConfigurationError(
                f"{owner!r} has no attribute {part!r} (it has: {shown or 'nothing public'})"
            ) from None
    return value


async def load_target(target: str, *, factory: bool, expected: tuple[type[Any], ...]) -> Any:
    """:func:`import_target`; called (and awaited) with ``factory``; of an ``expected`` type."""
    value = import_target(target)
    wanted = " or ".join(kind.__name__ for kind in expected)
    if factory:
        if not callable(value):
            raise ConfigurationError(
                f"{target} is a {type(value).__name__}, not callable; drop --factory"
            )
        value = value()
        if inspect.isawaitable(value):
            value = await value
        if not isinstance(value, expected):
            raise ConfigurationError(
                f"{target}() returned a {type(value).__name__}, not an {wanted}"
            )
        return value
    if not isinstance(value, expected):
        hint = "; pass --factory if it builds one" if callable(value) else ""
        raise ConfigurationError(f"{target} is a {type(value).__name__}, not an {wanted}{hint}")
    return value
