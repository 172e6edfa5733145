"""Passwords never show in ``repr``, ``str`` or validation errors of any settings class."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

import pytest
from pydantic_settings import BaseSettings

import cqrs_worker
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.outbox import RelaySettings
from cqrs_worker.security import (
    KafkaSecuritySettings,
    RabbitMQTLSSettings,
    SecretSettings,
    redact_url,
)
from cqrs_worker.security.secret_files import is_secret
from cqrs_worker.worker.settings import WorkerSettings, load_settings

PASSWORD = "Pw-7c1e5a"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("amqp://guest:guest@rabbit:5672/", "amqp://guest:***@rabbit:5672/"),
        ("amqps://u:p%40ss@h/vh?heartbeat=5", "amqps://u:***@h/vh?heartbeat=5"),
        (
            "postgresql+asyncpg://app:secret@db:5432/shop",
            "postgresql+asyncpg://app:***@db:5432/shop",
        ),
        ("mysql+asyncmy://root@127.0.0.1/test", "mysql+asyncmy://root@127.0.0.1/test"),
        ("amqp://rabbit/", "amqp://rabbit/"),
        ("amqp://u:secret@host:notaport/", "amqp://u:***@host:notaport/"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url_hides_only_the_password(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_malformed_url_with_credentials_is_hidden_whole() -> None:
    assert "secret" not in redact_url("amqp://u:secret@[::1/")


def every_secret() -> dict[str, Any]:
    return {
        "rabbitmq_url": f"amqp://app:{PASSWORD}@rabbit:5672/",
        "kafka_security_protocol": "SASL_PLAINTEXT",
        "kafka_sasl_mechanism": "SCRAM-SHA-256",
        "kafka_sasl_username": "app",
        "kafka_sasl_password": PASSWORD,
    }


@pytest.mark.parametrize("render", [repr, str])
def test_worker_settings_show_no_password(render: Any) -> None:
    settings = WorkerSettings(**every_secret())
    text = render(settings)
    assert PASSWORD not in text
    assert "amqp://app:***@rabbit:5672/" in text  # still says where


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (
            KafkaSecuritySettings,
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "u",
                "kafka_sasl_password": PASSWORD,
                "kafka_ssl_key_password": PASSWORD,
            },
        ),
        (RabbitMQTLSSettings, {"rabbitmq_ssl_key_password": PASSWORD}),
    ],
)
def test_security_settings_show_no_password(cls: Any, values: dict[str, Any]) -> None:
    settings = cls(**values)
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings)


def all_settings_classes() -> list[type[BaseSettings]]:
    """Every settings class of the package (each module imported, then subclasses listed)."""
    for module in pkgutil.walk_packages(cqrs_worker.__path__, "cqrs_worker."):
        if module.name.startswith("cqrs_worker.contrib.") or module.name.endswith("__main__"):
            continue  # optional extras; the CLI entry point runs on import
        importlib.import_module(module.name)
    found: list[type[BaseSettings]] = []
    queue: list[type[BaseSettings]] = [BaseSettings]
    while queue:
        for sub in queue.pop().__subclasses__():
            queue.append(sub)
            if sub.__module__.startswith("cqrs_worker."):
                found.append(sub)
    return found


def test_every_url_dsn_and_password_setting_is_secret() -> None:
    """A new setting for a URL, DSN or password must be marked, or it would leak."""
    classes = all_settings_classes()
    assert WorkerSettings in classes
    assert RelaySettings in classes
    unmarked = [
        f"{cls.__name__}.{name}"
        for cls in classes
        for name, field in cls.model_fields.items()
        if any(word in name for word in ("url", "dsn", "password", "secret"))
        and not (is_secret(field) and issubclass(cls, SecretSettings))
    ]
    assert not unmarked, (
        f"{unmarked}: annotate with cqrs_worker.security.SECRET (or use SecretStr) and base the "
        f"class on cqrs_worker.security.SecretSettings (redacted repr and a _FILE variable)"
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("kafka_sasl_password", 12345), ("rabbitmq_url", 12345), ("kafka_ssl_key_password", 1.5)],
)
def test_a_secret_that_fails_validation_is_not_echoed(field: str, value: object) -> None:
    # The value itself is not the password here, but it is what a secret setting held:
    # the error must show it hidden, like any other value of that setting.
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**{field: value})
    message = str(caught.value)
    assert str(value) not in message
    assert "**********" in message


def test_an_invalid_setting_beside_a_url_with_a_password_leaks_nothing() -> None:
    with pytest.raises(ConfigurationError) as caught:
        load_settings(**every_secret(), concurrency=0)
    assert PASSWORD not in str(caught.value)
