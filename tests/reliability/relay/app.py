"""The relay of the R10 relay suite (``cqrs-worker relay ...relay.app:build --factory``).

Read from the environment: ``RELAY_DATABASE_URL`` and ``RELAY_TABLE`` (the
outbox), ``RELAY_KAFKA`` (a bootstrap address) or ``RELAY_AMQP`` and
``RELAY_EXCHANGE``. Broker timeouts are short, so a cut shows as a failed
publish within seconds rather than the production defaults' minute.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.brokers import AMQPMessageBroker, KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.outbox import EventProducer, OutboxRepository, outbox_table


def broker() -> MessageBroker:
    if "RELAY_KAFKA" in os.environ:
        producer = kafka_producer_factory(
            os.environ["RELAY_KAFKA"],
            enable_idempotence=os.environ.get("RELAY_KAFKA_IDEMPOTENT") == "1",
            request_timeout_ms=2000,
            retry_backoff_ms=100,
        )
        return KafkaMessageBroker(producer, start_timeout=10, publish_timeout=4)
    return AMQPMessageBroker(
        os.environ["RELAY_AMQP"],
        exchange=os.environ["RELAY_EXCHANGE"],
        connect_timeout=5,
        publish_timeout=3,
    )


def build() -> EventProducer:
    table = outbox_table(sa.MetaData(), name=os.environ["RELAY_TABLE"])
    return EventProducer(
        create_async_engine(os.environ["RELAY_DATABASE_URL"]),
        broker(),
        repository=OutboxRepository(table),
    )
