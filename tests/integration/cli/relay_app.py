"""A relay for the CLI tests, wired from ``CLI_TEST_*`` variables.

``CLI_TEST_DSN`` (database), ``CLI_TEST_TABLE`` (outbox table, default
``outbox``), and ``CLI_TEST_KAFKA`` (bootstrap) or ``CLI_TEST_AMQP`` (URL, with
``CLI_TEST_EXCHANGE``, default ``""``: the default exchange, which routes to
the queue named by the topic).
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.brokers import AMQPMessageBroker, KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.outbox import EventProducer, OutboxRepository, outbox_table


def build() -> EventProducer:
    kafka = os.environ.get("CLI_TEST_KAFKA")
    broker: MessageBroker
    if kafka:
        producer = kafka_producer_factory(kafka, enable_idempotence=False)
        broker = KafkaMessageBroker(producer, start_timeout=5)
    else:
        exchange = os.environ.get("CLI_TEST_EXCHANGE", "")
        broker = AMQPMessageBroker(
            os.environ["CLI_TEST_AMQP"], exchange=exchange, connect_timeout=5
        )
    table = outbox_table(sa.MetaData(), name=os.environ.get("CLI_TEST_TABLE", "outbox"))
    return EventProducer(
        create_async_engine(os.environ["CLI_TEST_DSN"]),
        broker,
        repository=OutboxRepository(table),
    )
