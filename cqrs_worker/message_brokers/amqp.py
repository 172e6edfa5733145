"""python-cqrs's module path ``cqrs.message_brokers.amqp`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.brokers import AMQPMessageBroker

__all__ = ["AMQPMessageBroker"]
