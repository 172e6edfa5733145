"""``CQRS_WORKER_<NAME>_FILE``: read a secret setting from a file (a Kubernetes secret mount).

Every secret setting (a ``SecretStr`` field, or one annotated with
:data:`SECRET`, like ``rabbitmq_url``) may be given as the path of a file
instead: ``CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE=/run/secrets/kafka-password``.
The file's content, without its trailing newline, is the value. Setting both
the variable and its ``_FILE`` twin is an error (which one was meant?);
values passed in code and command-line flags still win over both.

:class:`SecretSettings` is the base of every settings class that has
secrets: it adds the ``_FILE`` source and keeps secrets out of ``repr``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pydantic
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security.redaction import redact_value

__all__ = [
    "FILE_SUFFIX",
    "SECRET",
    "SecretFileSource",
    "SecretSettings",
    "existing_file",
    "is_secret",
    "secret_file_variables",
]

FILE_SUFFIX = "_FILE"


class _SecretMarker:
    """``Annotated[str | None, SECRET]``: a plain-string setting that holds a secret."""

    def __repr__(self) -> str:
        return "SECRET"


#: Marks a string setting as secret (``_FILE`` variable, redacted in repr and errors).
SECRET = _SecretMarker()


def existing_file(value: Path | None) -> Path | None:
    """Validator body of the certificate and key file settings: the path must be a file.

    (Plain ``Path`` fields with this check rather than pydantic's ``FilePath``,
    whose ``Annotated`` form the ``run`` command would show as a list flag.)
    """
    if value is not None and not value.is_file():
        raise ValueError("no such file")
    return value


def is_secret(field: FieldInfo) -> bool:
    """Whether ``field`` holds a secret: marked with :data:`SECRET`, or a ``SecretStr``."""
    if any(isinstance(item, _SecretMarker) for item in field.metadata):
        return True
    annotation = field.annotation
    return annotation is pydantic.SecretStr or pydantic.SecretStr in getattr(
        annotation, "__args__", ()
    )


def secret_file_variables(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """``{"CQRS_WORKER_<NAME>_FILE": field name}`` for every secret of ``settings_cls``."""
    prefix = str(settings_cls.model_config.get("env_prefix", ""))
    return {
        f"{prefix}{name.upper()}{FILE_SUFFIX}": name
        for name, field in settings_cls.model_fields.items()
        if is_secret(field)
    }


def _read(variable: str, path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigurationError(f"{variable}: cannot read {path!r} ({reason})") from None
    value = text.rstrip("\r\n")
    if not value:
        raise ConfigurationError(f"{variable}: the file {path!r} is empty")
    return value


class SecretFileSource(PydanticBaseSettingsSource):
    """Values of secret settings from the files their ``<VARIABLE>_FILE`` names."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything happens in __call__

    def __call__(self) -> dict[str, Any]:
        prefix = str(self.settings_cls.model_config.get("env_prefix", ""))
        values: dict[str, Any] = {}
        for file_variable, name in secret_file_variables(self.settings_cls).items():
            path = os.environ.get(file_variable)
            if path is None:
                continue
            variable = f"{prefix}{name.upper()}"
            if variable in os.environ:
                raise ConfigurationError(
                    f"both {variable} and {file_variable} are set; keep one of them"
                )
            values[name] = _read(file_variable, path)
        return values


class SecretSettings(BaseSettings):
    """Settings with secrets: ``_FILE`` variables, and no secret in ``repr`` or ``str``.

    Precedence, highest first: values in code (and flags), ``<NAME>_FILE``
    files, ``<NAME>`` variables, defaults.
    """

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            SecretFileSource(settings_cls),
            env_settings,
            dotenv_settings,
            file_secret_settings,
        )

    def __repr_args__(self) -> Any:
        fields = type(self).model_fields
        for name, value in super().__repr_args__():
            field = fields.get(name) if name else None
            if field is not None and is_secret(field) and isinstance(value, str):
                yield name, _Shown(redact_value(value))
            else:
                yield name, value


class _Shown:
    """A value whose ``repr`` is given (the redacted text)."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __repr__(self) -> str:
        return self._text
