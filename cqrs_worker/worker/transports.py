"""The transports the settings name (Kafka and/or RabbitMQ sources), started and stopped.

Each factory takes the :class:`~cqrs_worker.worker.context.SourceContext`
and returns a :class:`~cqrs_worker.worker.source.Source`. The transport
modules are imported only when their broker is configured.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import redact_url as redact
from cqrs_worker.worker.context import SourceContext, SourceFactory
from cqrs_worker.worker.settings import WorkerSettings
from cqrs_worker.worker.source import Source

__all__ = [
    "configured_transports",
    "kafka_source",
    "rabbitmq_source",
    "source_address",
    "start_source",
    "stop_sources",
]

logger = logging.getLogger(__name__)


def configured_transports(settings: WorkerSettings) -> list[SourceFactory]:
    """A factory per configured broker; ``ConfigurationError`` says which setting is missing."""
    factories: list[SourceFactory] = []
    if settings.kafka_bootstrap is not None:
        if settings.group_id is None:
            raise ConfigurationError(
                "Kafka needs a consumer group: set CQRS_WORKER_GROUP_ID (or --group-id)"
            )
        factories.append(kafka_source)
    if settings.rabbitmq_url is not None:
        factories.append(rabbitmq_source)
    if not factories:
        raise ConfigurationError(
            "no broker to consume from: set CQRS_WORKER_KAFKA_BOOTSTRAP (--kafka-bootstrap, "
            "e.g. kafka:9092) and/or CQRS_WORKER_RABBITMQ_URL (--rabbitmq-url, "
            "e.g. amqp://guest:guest@rabbitmq:5672/)"
        )
    return factories


def kafka_source(context: SourceContext) -> Source:
    """A :class:`~cqrs_worker.worker.kafka.KafkaSource` for the context's topics."""
    from cqrs_worker.worker.kafka import KafkaSource

    return KafkaSource.from_context(context)


def rabbitmq_source(context: SourceContext) -> Source:
    """A :class:`~cqrs_worker.worker.rabbitmq.RabbitSource` for the context's topics."""
    from cqrs_worker.worker.rabbitmq import RabbitSource

    return RabbitSource.from_context(context)


async def start_source(source: Source, settings: WorkerSettings) -> None:
    """Start ``source``; other failures become a ``ConfigurationError`` naming the address."""
    try:
        await source.start()
    except ConfigurationError:
        raise
    except Exception as exc:
        address = source_address(source.name, settings)
        raise ConfigurationError(
            f"the {source.name} source could not start{address}: {type(exc).__name__}: {exc}"
        ) from exc


async def stop_sources(
    started: Sequence[Source], runs: Mapping[asyncio.Task[None], Source], timeout: float
) -> None:
    """Stop every started source at once within ``timeout``; then end their ``run`` tasks."""
    if started:
        logger.info("stopping: finishing in-flight work (up to %.0fs)", timeout)
    results = await asyncio.gather(
        *(source.stop(timeout) for source in started), return_exceptions=True
    )
    for source, result in zip(started, results, strict=True):
        if isinstance(result, BaseException):
            logger.error("stopping the %s source failed", source.name, exc_info=result)
    for task in runs:
        if not task.done():
            task.cancel()
    await asyncio.gather(*runs, return_exceptions=True)


def source_address(name: str, settings: WorkerSettings) -> str:
    """`` at <address>`` of a source by name, for error messages (no password)."""
    if name == "kafka" and settings.kafka_bootstrap:
        return f" at {settings.kafka_bootstrap} (CQRS_WORKER_KAFKA_BOOTSTRAP)"
    if name == "rabbitmq" and settings.rabbitmq_url:
        return f" at {redact(settings.rabbitmq_url)} (CQRS_WORKER_RABBITMQ_URL)"
    return ""
