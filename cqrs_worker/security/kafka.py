"""Reaching a secured Kafka: :class:`KafkaSecuritySettings` and the client options they give.

``security.protocol`` ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``
or ``SASL_SSL``; SASL mechanisms ``PLAIN``, ``SCRAM-SHA-256``,
``SCRAM-SHA-512`` (user and password) and ``OAUTHBEARER`` (a
:class:`~cqrs_worker.security.token.TokenProvider`). The protocol itself is
aiokafka's: :func:`aiokafka_options` gives its ``security_protocol``,
``ssl_context``, ``sasl_*`` arguments, and :func:`faststream_options` the
same as FastStream security objects for the worker's consumer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import pydantic
from pydantic_settings import SettingsConfigDict

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security.secret_files import SecretSettings, existing_file
from cqrs_worker.security.tls import client_ssl_context
from cqrs_worker.security.token import TokenProvider, load_token_provider

__all__ = [
    "AIOKAFKA_SECURITY_OPTIONS",
    "KafkaSecuritySettings",
    "SaslMechanism",
    "SecurityProtocol",
    "aiokafka_options",
    "faststream_options",
    "load_kafka_security",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"]

#: aiokafka arguments that configure security; given by hand, they replace ours.
AIOKAFKA_SECURITY_OPTIONS = frozenset(
    {
        "security_protocol",
        "ssl_context",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "sasl_oauth_token_provider",
    }
)

_V = "CQRS_WORKER_KAFKA_"


class KafkaSecuritySettings(SecretSettings):
    """How Kafka clients authenticate and encrypt; every field is also ``CQRS_WORKER_<NAME>``.

    The worker's settings include these fields; publishers and the relay read
    them through :func:`~cqrs_worker.brokers.kafka_producer_factory`.
    Passwords are :class:`pydantic.SecretStr` and may come from files
    (``CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE``).
    """

    model_config = SettingsConfigDict(
        env_prefix="CQRS_WORKER_",
        frozen=True,
        extra="forbid",
        validate_default=True,
        use_attribute_docstrings=True,
        arbitrary_types_allowed=True,
    )

    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    """Kafka security.protocol: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL."""
    kafka_sasl_mechanism: SaslMechanism | None = None
    """SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER."""
    kafka_sasl_username: str | None = None
    """SASL user (PLAIN and SCRAM)."""
    kafka_sasl_password: pydantic.SecretStr | None = None
    """SASL password (PLAIN and SCRAM); or a file in CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE."""
    kafka_sasl_oauth_token_provider: str | TokenProvider | None = None
    """OAUTHBEARER token provider: module:attr of an object with async token()."""
    kafka_ssl_cafile: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates; default: the system's."""
    kafka_ssl_certfile: Path | None = None
    """PEM client certificate (mutual TLS); may hold the key too."""
    kafka_ssl_keyfile: Path | None = None
    """PEM private key of the client certificate."""
    kafka_ssl_key_password: pydantic.SecretStr | None = None
    """Password of an encrypted client key."""

    @pydantic.field_validator("kafka_security_protocol", "kafka_sasl_mechanism", mode="before")
    @classmethod
    def _kafka_security_upper(cls, value: object, info: pydantic.ValidationInfo) -> object:
        if not isinstance(value, str):
            return value
        if not value.strip():  # an empty variable means "not set"
            return "PLAINTEXT" if info.field_name == "kafka_security_protocol" else None
        return value.strip().upper()

    @pydantic.field_validator("kafka_sasl_oauth_token_provider", mode="before")
    @classmethod
    def _kafka_token_provider_shape(cls, value: object) -> object:
        if value is None or isinstance(value, str) or callable(getattr(value, "token", None)):
            return value
        raise ValueError("expected module:attr or an object with 'async def token(self)'")

    _kafka_files_exist = pydantic.field_validator(
        "kafka_ssl_cafile", "kafka_ssl_certfile", "kafka_ssl_keyfile"
    )(existing_file)

    @pydantic.model_validator(mode="after")
    def _consistent_security(self) -> KafkaSecuritySettings:
        problem = _security_problem(self)
        if problem is not None:
            raise ValueError(problem)
        return self


def _security_problem(s: KafkaSecuritySettings) -> str | None:
    protocol, mechanism = s.kafka_security_protocol, s.kafka_sasl_mechanism
    sasl, tls = protocol.startswith("SASL_"), protocol in ("SSL", "SASL_SSL")
    files = [
        name
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile", "ssl_key_password")
        if getattr(s, f"kafka_{name}") is not None
    ]
    if files and not tls:
        return (
            f"{_V}{files[0].upper()} is set but {_V}SECURITY_PROTOCOL is {protocol}; "
            f"use SSL or SASL_SSL"
        )
    if sasl and mechanism is None:
        return f"{_V}SECURITY_PROTOCOL={protocol} needs {_V}SASL_MECHANISM"
    if not sasl and mechanism is not None:
        return (
            f"{_V}SASL_MECHANISM is set but {_V}SECURITY_PROTOCOL is {protocol}; "
            f"use SASL_SSL (or SASL_PLAINTEXT)"
        )
    if mechanism == "OAUTHBEARER" and s.kafka_sasl_oauth_token_provider is None:
        return f"{_V}SASL_MECHANISM=OAUTHBEARER needs {_V}SASL_OAUTH_TOKEN_PROVIDER"
    credentials = s.kafka_sasl_username is not None and s.kafka_sasl_password is not None
    if mechanism not in (None, "OAUTHBEARER") and not credentials:
        return (
            f"{_V}SASL_MECHANISM={mechanism} needs {_V}SASL_USERNAME and "
            f"{_V}SASL_PASSWORD (or {_V}SASL_PASSWORD_FILE)"
        )
    return None


def load_kafka_security() -> KafkaSecuritySettings:
    """:class:`KafkaSecuritySettings` from the environment; ``ConfigurationError`` if invalid."""
    from cqrs_worker.security.errors import describe_settings_errors

    try:
        return KafkaSecuritySettings()
    except pydantic.ValidationError as exc:
        problems = describe_settings_errors(exc, KafkaSecuritySettings)
        raise ConfigurationError(f"invalid Kafka security settings: {problems}") from None


def aiokafka_options(settings: KafkaSecuritySettings) -> dict[str, Any]:
    """aiokafka client arguments for ``settings``; always names ``security_protocol``.

    Reads the certificate files and loads the token provider now:
    :class:`~cqrs_worker.errors.ConfigurationError` says what is wrong.
    """
    protocol = settings.kafka_security_protocol
    options: dict[str, Any] = {"security_protocol": protocol}
    if protocol in ("SSL", "SASL_SSL"):
        password = settings.kafka_ssl_key_password
        options["ssl_context"] = client_ssl_context(
            cafile=settings.kafka_ssl_cafile,
            certfile=settings.kafka_ssl_certfile,
            keyfile=settings.kafka_ssl_keyfile,
            key_password=password.get_secret_value() if password is not None else None,
            variables=f"{_V}SSL",
        )
    mechanism = settings.kafka_sasl_mechanism
    if protocol.startswith("SASL_") and mechanism is not None:
        options["sasl_mechanism"] = mechanism
        if mechanism == "OAUTHBEARER":
            provider = settings.kafka_sasl_oauth_token_provider
            if provider is None:  # the validator makes this unreachable
                raise ConfigurationError(f"{_V}SASL_OAUTH_TOKEN_PROVIDER is not set")
            options["sasl_oauth_token_provider"] = load_token_provider(provider)
        else:
            secret = settings.kafka_sasl_password
            options["sasl_plain_username"] = settings.kafka_sasl_username
            options["sasl_plain_password"] = secret.get_secret_value() if secret else None
    return options


def faststream_options(options: dict[str, Any]) -> dict[str, Any]:
    """:class:`faststream.kafka.KafkaBroker` arguments for aiokafka ``options``.

    FastStream takes security as an object (``security=SASLScram512(...)``)
    that it turns back into the same aiokafka arguments; the token provider
    is a broker argument of its own.
    """
    from faststream.security import (
        BaseSecurity,
        SASLOAuthBearer,
        SASLPlaintext,
        SASLScram256,
        SASLScram512,
    )

    protocol = options.get("security_protocol", "PLAINTEXT")
    if protocol == "PLAINTEXT":
        return {}
    use_ssl = protocol in ("SSL", "SASL_SSL")
    context = options.get("ssl_context")
    mechanism = options.get("sasl_mechanism")
    security: BaseSecurity
    if mechanism is None:
        security = BaseSecurity(ssl_context=context, use_ssl=use_ssl)
    elif mechanism == "OAUTHBEARER":
        security = SASLOAuthBearer(ssl_context=context, use_ssl=use_ssl)
        provider = options["sasl_oauth_token_provider"]
        return {"security": security, "sasl_oauth_token_provider": provider}
    else:
        kinds: dict[str, type[SASLPlaintext | SASLScram256 | SASLScram512]] = {
            "PLAIN": SASLPlaintext,
            "SCRAM-SHA-256": SASLScram256,
            "SCRAM-SHA-512": SASLScram512,
        }
        security = kinds[mechanism](
            options["sasl_plain_username"],
            options["sasl_plain_password"],
            ssl_context=context,
            use_ssl=use_ssl,
        )
    return {"security": security}
