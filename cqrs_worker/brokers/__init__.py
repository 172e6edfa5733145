"""The only code that knows a transport: publishing to Kafka, RabbitMQ or memory.

:class:`MessageBroker` is the protocol every transport implements;
:class:`KafkaMessageBroker` (built on :func:`kafka_producer_factory`),
:class:`AMQPMessageBroker` and :class:`InMemoryBroker` are the three we ship.
:class:`BrokerEventEmitter` publishes the events handlers emit, directly
(at-most-once; the outbox gives at-least-once).
"""

from cqrs_worker.brokers.amqp import AMQPMessageBroker
from cqrs_worker.brokers.emitter import BrokerEventEmitter
from cqrs_worker.brokers.kafka import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.brokers.memory import InMemoryBroker
from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.brokers.protocol import MessageBroker

__all__ = [
    "AMQPMessageBroker",
    "BrokerEventEmitter",
    "InMemoryBroker",
    "KafkaMessageBroker",
    "MessageBroker",
    "OutgoingMessage",
    "kafka_producer_factory",
]
