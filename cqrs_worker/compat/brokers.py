"""python-cqrs's broker call shapes: constructors and ``send_message`` over our brokers."""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Callable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from cqrs_worker.brokers import amqp, kafka
from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.events import WireEvent

__all__ = ["AMQPMessageBroker", "KafkaMessageBroker", "kafka_producer_factory"]


async def _send_message(
    broker: amqp.AMQPMessageBroker | kafka.KafkaMessageBroker, message: Any
) -> None:
    if isinstance(message, WireEvent):
        message = OutgoingMessage.from_event(message)
    if not isinstance(message, OutgoingMessage):
        raise TypeError(
            f"send_message() takes a NotificationEvent/ECSTEvent (or an OutgoingMessage), "
            f"not {type(message).__qualname__}"
        )
    await broker.publish([message])


class AMQPMessageBroker(amqp.AMQPMessageBroker):
    """python-cqrs's ``AMQPMessageBroker(dsn=, queue_name=, exchange_name=)``.

    Our broker publishing to ``exchange_name`` (a durable topic exchange),
    with ``queue_name`` declared and bound to it with ``#``, so the queue gets
    every message, as python-cqrs's did.
    """

    def __init__(
        self,
        dsn: str,
        queue_name: str,
        exchange_name: str,
        pika_log_level: str | None = None,
    ) -> None:
        super().__init__(dsn, exchange=exchange_name, bind_queues=[queue_name])
        if pika_log_level is not None:  # asked for explicitly, as python-cqrs applied it
            for name in ("aiormq", "aio_pika"):
                logging.getLogger(name).setLevel(pika_log_level)

    async def send_message(self, message: WireEvent[Any] | OutgoingMessage) -> None:
        """Publish one event (python-cqrs's name for :meth:`publish`)."""
        await _send_message(self, message)


class KafkaMessageBroker(kafka.KafkaMessageBroker):
    """python-cqrs's ``KafkaMessageBroker(producer, aiokafka_log_level)``."""

    def __init__(
        self,
        producer: AIOKafkaProducer | Callable[[], AIOKafkaProducer],
        aiokafka_log_level: str | None = None,
    ) -> None:
        super().__init__(producer)
        if aiokafka_log_level is not None:  # asked for explicitly, as python-cqrs applied it
            logging.getLogger("aiokafka").setLevel(aiokafka_log_level)

    async def send_message(self, message: WireEvent[Any] | OutgoingMessage) -> None:
        """Publish one event (python-cqrs's name for :meth:`publish`)."""
        await _send_message(self, message)


def kafka_producer_factory(
    dsn: str,
    topics: Sequence[str] | None = None,
    security_protocol: str | None = None,
    sasl_mechanism: str | None = None,
    ssl_context: ssl.SSLContext | None = None,
    user: str | None = None,
    password: str | None = None,
    enable_idempotence: bool = False,
) -> Callable[[], AIOKafkaProducer]:
    """python-cqrs's ``kafka_producer_factory(dsn=, topics=)``, callable outside an event loop.

    Returns a function that builds our producer
    (:func:`cqrs_worker.brokers.kafka_producer_factory`) when the broker first
    needs it. ``topics`` is accepted and unused, as in python-cqrs (a producer
    needs no topic list). Not idempotent by default, as python-cqrs's producer.
    """
    del topics
    options: dict[str, Any] = {
        name: value
        for name, value in (
            ("security_protocol", security_protocol),
            ("sasl_mechanism", sasl_mechanism),
            ("ssl_context", ssl_context),
            ("sasl_plain_username", user),
            ("sasl_plain_password", password),
        )
        if value is not None
    }
    return functools.partial(
        kafka.kafka_producer_factory, dsn, enable_idempotence=enable_idempotence, **options
    )
