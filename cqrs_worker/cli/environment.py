"""Which ``CQRS_WORKER_*`` variables mean something, and a warning for each one that does not.

The known names are derived when the command runs, from every pydantic
settings class of the package whose prefix starts with ``CQRS_WORKER_``
(``WorkerSettings``, ``RelaySettings``, ``UnitOfWorkSettings``, ... found in
the package's ``settings.py`` / ``*_settings.py`` modules), plus the few
variables read directly (:data:`EXPLICIT_VARIABLES`). So a setting added to
one of those classes is known without touching this module. ``<NAME>_FILE``
is known wherever ``<NAME>`` is (a secret read from a mounted file), and
``CQRS_WORKER_TEST_*`` belongs to the project's test suite.
"""

from __future__ import annotations

import difflib
import importlib
import logging
from collections.abc import Iterable, Mapping
from importlib import resources
from typing import Any

from pydantic import AliasChoices
from pydantic_settings import BaseSettings

__all__ = [
    "EXPLICIT_VARIABLES",
    "PREFIX",
    "known_variables",
    "settings_classes",
    "unknown_variables",
    "warn_unknown_variables",
]

logger = logging.getLogger(__name__)

PREFIX = "CQRS_WORKER_"

#: Variables read with ``os.environ`` rather than through a settings class.
EXPLICIT_VARIABLES: tuple[str, ...] = (
    "CQRS_WORKER_LOG_LEVEL",
    "CQRS_WORKER_LOG_FORMAT",
    "CQRS_WORKER_HEALTH_PORT",
)

_RESERVED_PREFIXES = ("CQRS_WORKER_TEST_",)
_FILE_SUFFIX = "_FILE"


def settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the package that reads ``CQRS_WORKER_*`` variables."""
    _import_settings_modules()
    found: list[type[BaseSettings]] = []
    pending: list[type[BaseSettings]] = list(BaseSettings.__subclasses__())
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        prefix = str(cls.model_config.get("env_prefix") or "")
        if cls.__module__.startswith("cqrs_worker.") and prefix.upper().startswith(PREFIX):
            found.append(cls)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def _import_settings_modules() -> None:
    # Only the settings modules: importing the whole package would pull in
    # optional dependencies. Names are taken from the files, not a list, so a
    # settings module added later is found too.
    root = resources.files("cqrs_worker")
    for module in sorted(_settings_modules(root, "cqrs_worker")):
        importlib.import_module(module)


def _settings_modules(folder: Any, package: str) -> Iterable[str]:
    for entry in folder.iterdir():
        name = entry.name
        if entry.is_dir() and not name.startswith(("_", ".")):
            if entry.joinpath("__init__.py").is_file():
                yield from _settings_modules(entry, f"{package}.{name}")
        elif name == "settings.py" or name.endswith("_settings.py"):
            yield f"{package}.{name.removesuffix('.py')}"


def _field_variables(cls: type[BaseSettings]) -> Iterable[str]:
    prefix = str(cls.model_config.get("env_prefix") or "").upper()
    for name, field in cls.model_fields.items():
        aliases = [field.validation_alias, field.alias]
        named = False
        for alias in aliases:
            if isinstance(alias, str):
                named = True
                yield alias.upper()
            elif isinstance(alias, AliasChoices):
                for choice in alias.choices:
                    if isinstance(choice, str):
                        named = True
                        yield choice.upper()
        if not named:
            yield f"{prefix}{name.upper()}"


def known_variables() -> frozenset[str]:
    """Every ``CQRS_WORKER_*`` name something reads (``<NAME>_FILE`` forms aside)."""
    names = set(EXPLICIT_VARIABLES)
    for cls in settings_classes():
        names.update(_field_variables(cls))
    return frozenset(names)


def unknown_variables(
    environ: Mapping[str, str], known: frozenset[str] | None = None
) -> list[tuple[str, str | None]]:
    """``(name, closest known name or None)`` for each ``CQRS_WORKER_*`` nobody reads."""
    known = known_variables() if known is None else known
    unknown = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or upper.startswith(_RESERVED_PREFIXES):
            continue
        if upper in known or (
            upper.endswith(_FILE_SUFFIX) and upper[: -len(_FILE_SUFFIX)] in known
        ):
            continue
        close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
        unknown.append((name, close[0] if close else None))
    return unknown


def warn_unknown_variables(environ: Mapping[str, str]) -> None:
    """One WARNING per ``CQRS_WORKER_*`` variable nobody reads, with the closest known name."""
    for name, close in unknown_variables(environ):
        if close is None:
            logger.warning("%s is not a cqrs-worker setting and is ignored", name)
        else:
            logger.warning(
                "%s is not a cqrs-worker setting and is ignored; did you mean %s?", name, close
            )
