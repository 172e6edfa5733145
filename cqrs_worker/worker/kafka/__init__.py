"""The Kafka transport of the worker: :class:`KafkaSource` and :class:`KafkaDeadLetterSink`."""

from cqrs_worker.worker.kafka.dead_letter import KafkaDeadLetterSink
from cqrs_worker.worker.kafka.source import KafkaSource

__all__ = ["KafkaDeadLetterSink", "KafkaSource"]
