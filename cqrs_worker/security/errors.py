"""One line per invalid security setting, with no secret in it: :func:`describe_settings_errors`."""

from __future__ import annotations

import pydantic
from pydantic_settings import BaseSettings

from cqrs_worker.security.redaction import redact_value
from cqrs_worker.security.secret_files import is_secret

__all__ = ["describe_input", "describe_settings_errors"]


def describe_input(settings_cls: type[BaseSettings], field: str, value: object) -> str:
    """``repr(value)``, or its redacted form when ``field`` is a secret of ``settings_cls``."""
    info = settings_cls.model_fields.get(field)
    if info is not None and is_secret(info):
        return redact_value(value)
    return repr(value)


def describe_settings_errors(
    exc: pydantic.ValidationError, settings_cls: type[BaseSettings]
) -> str:
    """``CQRS_WORKER_<NAME>: what is wrong, got <value>``, one per line (secrets redacted)."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        message = error["msg"].removeprefix("Value error, ")
        if field in settings_cls.model_fields:
            shown = describe_input(settings_cls, field, error["input"])
            lines.append(f"{prefix}{field.upper()}: {message}, got {shown}")
        else:
            lines.append(message)
    return "; ".join(lines)
