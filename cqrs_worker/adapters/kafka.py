"""python-cqrs's module path ``cqrs.adapters.kafka`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.brokers import kafka_producer_factory

__all__ = ["kafka_producer_factory"]
