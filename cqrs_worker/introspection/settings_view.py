"""The settings in effect, safe to print: :func:`settings_view`.

Every secret setting (a ``SecretStr``, or marked :data:`~cqrs_worker.security.SECRET`
like ``rabbitmq_url``) is redacted, and so is the password of any other value
that is a URL or DSN: a URL keeps its user and host (``amqp://app:***@rabbit/``),
anything else secret shows as ``**********``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pydantic

from cqrs_worker.security.redaction import HIDDEN, redact_url
from cqrs_worker.security.secret_files import FILE_SUFFIX, is_secret
from cqrs_worker.worker.settings import WorkerSettings, env_name

__all__ = ["SettingValue", "SettingView", "settings_view", "shown_value"]

SettingValue = str | int | float | bool | list[str] | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingView:
    """One setting: its variable, its (redacted) value and where it came from.

    ``source`` is ``flag``, ``file`` (``<VARIABLE>_FILE``), ``environment``,
    ``code`` (given when the Worker was built) or ``default``.
    """

    name: str
    variable: str
    value: SettingValue
    source: str
    secret: bool


def settings_view(
    settings: WorkerSettings, sources: Mapping[str, str] | None = None
) -> tuple[SettingView, ...]:
    """Each field of ``settings``, in declaration order; ``sources`` overrides the guess."""
    views = []
    given = sources or {}
    fields = type(settings).model_fields
    own = getattr(type(settings), "__annotations__", {})
    # The worker's own settings first, then the security ones it inherits.
    for name in sorted(fields, key=lambda n: n not in own):
        field = fields[name]
        secret = is_secret(field)
        views.append(
            SettingView(
                name=name,
                variable=env_name(name),
                value=shown_value(getattr(settings, name), secret=secret),
                source=given.get(name) or _source(settings, name),
                secret=secret,
            )
        )
    return tuple(views)


def shown_value(value: object, *, secret: bool) -> SettingValue:
    """``value`` as it may be printed (JSON-ready, no password in it)."""
    if value is None:
        return None
    if isinstance(value, pydantic.SecretStr):
        return HIDDEN
    if isinstance(value, str):
        if "://" in value:  # a URL or DSN keeps all but its password
            return redact_url(value)
        return HIDDEN if secret else value
    if secret:
        return HIDDEN
    if isinstance(value, bool | int | float):
        return value
    if isinstance(value, tuple | list):
        return [str(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    kind = type(value)  # e.g. an OAUTHBEARER token provider object
    return f"<{kind.__module__}.{kind.__qualname__}>"


def _source(settings: WorkerSettings, name: str) -> str:
    variable = env_name(name)
    if f"{variable}{FILE_SUFFIX}" in os.environ and is_secret(type(settings).model_fields[name]):
        return "file"
    if variable in os.environ:
        return "environment"
    return "code" if name in settings.model_fields_set else "default"
