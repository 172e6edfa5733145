"""Where a worker reads and dead-letters, from its settings: :func:`destinations`.

The names follow what the sources declare (``KafkaSource``: ``<topic><dlq_suffix>``;
``RabbitSource``: ``<group_id>.<topic>`` queues unless ``QUEUES`` names them,
the dead-letter exchange ``<exchange>.dlx`` and ``<queue><dlq_suffix>``).
"""

from __future__ import annotations

from dataclasses import dataclass

from cqrs_worker.security.redaction import redact_url
from cqrs_worker.worker.rabbitmq.queues import queue_specs
from cqrs_worker.worker.settings import WorkerSettings

__all__ = [
    "Destinations",
    "KafkaDestinations",
    "QueueDestination",
    "RabbitDestinations",
    "destinations",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class KafkaDestinations:
    bootstrap: str
    group_id: str | None
    security_protocol: str
    topics: tuple[str, ...]
    dead_letter_topics: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueDestination:
    name: str
    routing_keys: tuple[str, ...]
    dead_letter_queue: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RabbitDestinations:
    url: str
    """Redacted: the password is ``***``."""
    exchange: str
    dead_letter_exchange: str
    queues: tuple[QueueDestination, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Destinations:
    """The configured transports; ``topics`` are subscribed (Kafka) and bound (RabbitMQ)."""

    topics: tuple[str, ...]
    kafka: KafkaDestinations | None
    rabbitmq: RabbitDestinations | None


def destinations(settings: WorkerSettings, topics: tuple[str, ...]) -> Destinations:
    """What ``settings`` and the subscribed ``topics`` make the worker consume."""
    kafka = None
    if settings.kafka_bootstrap is not None:
        kafka = KafkaDestinations(
            bootstrap=redact_url(settings.kafka_bootstrap),
            group_id=settings.group_id,
            security_protocol=settings.kafka_security_protocol,
            topics=topics,
            dead_letter_topics=tuple(f"{topic}{settings.dlq_suffix}" for topic in topics),
        )
    rabbitmq = None
    if settings.rabbitmq_url is not None:
        specs = (
            queue_specs(topics=topics, queues=settings.queues, group_id=settings.group_id)
            if settings.queues or settings.group_id
            else ()
        )
        rabbitmq = RabbitDestinations(
            url=redact_url(settings.rabbitmq_url),
            exchange=settings.rabbitmq_exchange,
            dead_letter_exchange=f"{settings.rabbitmq_exchange}.dlx",
            queues=tuple(
                QueueDestination(
                    name=spec.name,
                    routing_keys=spec.routing_keys,
                    dead_letter_queue=f"{spec.name}{settings.dlq_suffix}",
                )
                for spec in specs
            ),
        )
    return Destinations(topics=topics, kafka=kafka, rabbitmq=rabbitmq)
