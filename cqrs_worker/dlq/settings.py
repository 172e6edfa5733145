"""Where the dead letters are: :class:`DeadLetterSettings`, the worker's own variables.

``cqrs-worker dlq`` reads the variables the worker reads
(``CQRS_WORKER_KAFKA_BOOTSTRAP``, ``CQRS_WORKER_RABBITMQ_URL`` or its
``_FILE``, ``CQRS_WORKER_DLQ_SUFFIX``, ``CQRS_WORKER_KAFKA_IDEMPOTENCE`` and the
TLS/SASL settings), so it runs with the worker's environment; flags win.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from pydantic_settings import SettingsConfigDict

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security.kafka import KafkaSecuritySettings
from cqrs_worker.security.rabbitmq import RabbitMQTLSSettings
from cqrs_worker.security.secret_files import SECRET

__all__ = ["DeadLetterSettings", "load_dead_letter_settings"]


class DeadLetterSettings(KafkaSecuritySettings, RabbitMQTLSSettings):
    """The broker holding the dead letters and how to reach it."""

    model_config = SettingsConfigDict(
        env_prefix="CQRS_WORKER_",
        frozen=True,
        extra="ignore",  # the rest of the worker's variables
        validate_default=True,
        use_attribute_docstrings=True,
        arbitrary_types_allowed=True,
    )

    kafka_bootstrap: str | None = None
    """Kafka bootstrap servers."""
    rabbitmq_url: Annotated[str | None, SECRET] = None
    """AMQP URL."""
    dlq_suffix: str = pydantic.Field(default=".dlq", min_length=1)
    """The dead-letter topic/queue is ``<name><dlq_suffix>``."""
    kafka_idempotence: bool = True
    """Idempotent producer for Kafka replays; off for Tansu."""

    def transport(
        self, chosen: Literal["kafka", "rabbitmq"] | None
    ) -> Literal["kafka", "rabbitmq"]:
        """Which broker to use: ``chosen``, else the only one configured."""
        if chosen == "kafka" or (chosen is None and self.kafka_bootstrap and not self.rabbitmq_url):
            if not self.kafka_bootstrap:
                raise ConfigurationError(
                    "--kafka needs CQRS_WORKER_KAFKA_BOOTSTRAP (--kafka-bootstrap)"
                )
            return "kafka"
        if chosen == "rabbitmq" or (
            chosen is None and self.rabbitmq_url and not self.kafka_bootstrap
        ):
            if not self.rabbitmq_url:
                raise ConfigurationError(
                    "--rabbitmq needs CQRS_WORKER_RABBITMQ_URL (--rabbitmq-url)"
                )
            return "rabbitmq"
        if self.kafka_bootstrap and self.rabbitmq_url:
            raise ConfigurationError(
                "both Kafka and RabbitMQ are configured: pass --kafka or --rabbitmq"
            )
        raise ConfigurationError(
            "no broker: set CQRS_WORKER_KAFKA_BOOTSTRAP (--kafka-bootstrap) or "
            "CQRS_WORKER_RABBITMQ_URL (--rabbitmq-url)"
        )


def load_dead_letter_settings(**overrides: Any) -> DeadLetterSettings:
    """:class:`DeadLetterSettings` from the environment and ``overrides``; one-line errors."""
    from cqrs_worker.security.errors import describe_settings_errors

    try:
        return DeadLetterSettings(**{k: v for k, v in overrides.items() if v is not None})
    except pydantic.ValidationError as exc:
        raise ConfigurationError(describe_settings_errors(exc, DeadLetterSettings)) from None
