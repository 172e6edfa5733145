"""python-cqrs's module path ``cqrs.message_brokers.kafka`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.brokers import KafkaMessageBroker

__all__ = ["KafkaMessageBroker"]
