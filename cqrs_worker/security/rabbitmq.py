"""AMQP over TLS: :class:`RabbitMQTLSSettings` and :func:`amqp_ssl_context`.

An ``amqps://`` URL turns TLS on (aiormq verifies the server against the
system's CAs by default); these settings add the CA that signed RabbitMQ's
certificate and a client certificate for mutual TLS. The context goes to
aio-pika/aiormq as ``ssl_context`` (FastStream: ``security=BaseSecurity(...)``).
"""

from __future__ import annotations

import ssl
from pathlib import Path
from urllib.parse import urlsplit

import pydantic
from pydantic_settings import SettingsConfigDict

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security.redaction import redact_url
from cqrs_worker.security.secret_files import SecretSettings, existing_file
from cqrs_worker.security.tls import client_ssl_context

__all__ = ["RabbitMQTLSSettings", "amqp_ssl_context", "load_rabbitmq_tls"]

_V = "CQRS_WORKER_RABBITMQ_SSL"


class RabbitMQTLSSettings(SecretSettings):
    """TLS files for ``amqps://`` connections; every field is also ``CQRS_WORKER_<NAME>``."""

    model_config = SettingsConfigDict(
        env_prefix="CQRS_WORKER_",
        frozen=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
    )

    rabbitmq_ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed RabbitMQ's certificate (amqps:// URLs)."""
    rabbitmq_ssl_certfile: Path | None = None
    """PEM client certificate for mutual TLS with RabbitMQ."""
    rabbitmq_ssl_keyfile: Path | None = None
    """PEM private key of the RabbitMQ client certificate."""
    rabbitmq_ssl_key_password: pydantic.SecretStr | None = None
    """Password of an encrypted RabbitMQ client key."""

    _rabbitmq_files_exist = pydantic.field_validator(
        "rabbitmq_ssl_cafile", "rabbitmq_ssl_certfile", "rabbitmq_ssl_keyfile"
    )(existing_file)

    @property
    def rabbitmq_tls_files_set(self) -> bool:
        return any(
            value is not None
            for value in (
                self.rabbitmq_ssl_cafile,
                self.rabbitmq_ssl_certfile,
                self.rabbitmq_ssl_keyfile,
                self.rabbitmq_ssl_key_password,
            )
        )


def load_rabbitmq_tls() -> RabbitMQTLSSettings:
    """:class:`RabbitMQTLSSettings` from the environment; ``ConfigurationError`` if invalid."""
    from cqrs_worker.security.errors import describe_settings_errors

    try:
        return RabbitMQTLSSettings()
    except pydantic.ValidationError as exc:
        problems = describe_settings_errors(exc, RabbitMQTLSSettings)
        raise ConfigurationError(f"invalid RabbitMQ TLS settings: {problems}") from None


def amqp_ssl_context(url: str, settings: RabbitMQTLSSettings) -> ssl.SSLContext | None:
    """The TLS context for ``url``: ``None`` for ``amqp://``, else one from ``settings``.

    TLS files with an ``amqp://`` URL are an error rather than ignored: the
    connection would go out unencrypted although TLS was asked for.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme != "amqps":
        if settings.rabbitmq_tls_files_set:
            raise ConfigurationError(
                f"{_V}_* is set but the RabbitMQ URL {redact_url(url)} is not amqps://; "
                f"use amqps://host:5671/ for TLS"
            )
        return None
    password = settings.rabbitmq_ssl_key_password
    return client_ssl_context(
        cafile=settings.rabbitmq_ssl_cafile,
        certfile=settings.rabbitmq_ssl_certfile,
        keyfile=settings.rabbitmq_ssl_keyfile,
        key_password=password.get_secret_value() if password is not None else None,
        variables=_V,
    )
