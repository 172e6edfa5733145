"""Delayed retry stages on Kafka: :class:`KafkaRetrySink` publishes to ``<topic>.retry.<delay>``.

The stage record is the original one, byte for byte (value, key, headers;
the key keeps one key's retries in one partition of the retry topic), plus
the ``x-retry-*`` headers of the stage and where the original came from:
``x-retry-original-topic``, ``-partition``, ``-offset`` (set when it first
leaves its topic, kept through later stages). Every record of one retry
topic waits the same delay, so a partition of it is in due order: the
source holds back such a partition until its first record is due
(:class:`~cqrs_worker.worker.kafka.due.DueGate`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.kafka.dead_letter import (
    RETRY_OFFSET,
    RETRY_PARTITION,
    RETRY_TOPIC,
    KafkaDeadLetterSink,
    origin_of,
)
from cqrs_worker.worker.retry_stages import PREFIX, RetryStage

__all__ = ["KafkaRetrySink", "retry_topic", "retry_topics"]


def retry_topic(topic: str, stage: RetryStage) -> str:
    """The topic of ``stage`` for messages of ``topic``: ``orders.retry.5s``."""
    return f"{topic}.retry.{stage.label}"


def retry_topics(topics: Iterable[str], stages: Iterable[RetryStage]) -> tuple[str, ...]:
    """Every retry topic of ``topics`` (the worker subscribes to them too)."""
    stages = tuple(stages)
    return tuple(retry_topic(topic, stage) for topic in topics for stage in stages)


class KafkaRetrySink:
    """A :class:`~cqrs_worker.worker.delayed_retry.RetryStageSink` for Kafka deliveries.

    It publishes through the dead-letter sink's producer (started and closed
    with it by the source). The retry topics must exist, like the dead-letter
    topics; until a publish succeeds the original stays uncommitted.
    """

    def __init__(self, producer: KafkaDeadLetterSink) -> None:
        self._producer = producer

    def carried(self, delivery: Delivery, /) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for name, value in delivery.raw.headers:
            if name.startswith(PREFIX):
                try:
                    found[name] = value.decode()
                except (UnicodeDecodeError, AttributeError):  # not ours: ignore it
                    continue
        return found

    async def send(
        self, delivery: Delivery, stage: RetryStage, headers: Mapping[str, str], /
    ) -> None:
        record = delivery.raw
        topic, partition, offset = origin_of(record)
        ours = {
            **headers,
            RETRY_TOPIC: topic,
            RETRY_PARTITION: partition,
            RETRY_OFFSET: offset,
        }
        await self._producer.publish(
            retry_topic(topic, stage), record, ours, what=f"retry-stage {stage.number} record"
        )
