"""python-cqrs's broker shapes: our brokers, built outside an event loop, no I/O."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator

import pytest
from aiokafka import AIOKafkaProducer

from cqrs_worker.adapters import kafka as kafka_adapter
from cqrs_worker.brokers import amqp, kafka
from cqrs_worker.message_brokers.amqp import AMQPMessageBroker
from cqrs_worker.message_brokers.kafka import KafkaMessageBroker


@pytest.fixture
def aiokafka_level() -> Iterator[None]:
    logger = logging.getLogger("aiokafka")
    before = logger.level
    yield
    logger.setLevel(before)


def test_amqp_broker_takes_dsn_queue_and_exchange() -> None:
    broker = AMQPMessageBroker(
        dsn="amqp://guest:guest@localhost/", queue_name="joined", exchange_name="users"
    )

    assert isinstance(broker, amqp.AMQPMessageBroker)
    assert (broker.url, broker.exchange_name) == ("amqp://guest:guest@localhost/", "users")
    assert broker.bind_queues == ("joined",)


def test_producer_factory_and_broker_need_no_running_loop(aiokafka_level: None) -> None:
    # aiokafka binds a producer to the running loop; the README builds these at module level.
    producer = kafka_adapter.kafka_producer_factory(dsn="localhost:9094", topics=["t1", "t2"])
    broker = KafkaMessageBroker(producer, "DEBUG")

    assert isinstance(broker, kafka.KafkaMessageBroker)
    assert isinstance(producer, functools.partial)
    assert producer.func is kafka.kafka_producer_factory
    assert producer.args == ("localhost:9094",)
    assert producer.keywords == {"enable_idempotence": False}  # python-cqrs's producer was not
    assert logging.getLogger("aiokafka").level == logging.DEBUG


async def test_the_producer_is_built_on_first_use() -> None:
    broker = KafkaMessageBroker(kafka_adapter.kafka_producer_factory(dsn="localhost:9094"))

    assert isinstance(broker.producer, AIOKafkaProducer)
    assert broker.producer is broker.producer
    await broker.close()


async def test_send_message_refuses_what_is_not_an_event() -> None:
    broker = KafkaMessageBroker(kafka_adapter.kafka_producer_factory(dsn="localhost:9094"))

    with pytest.raises(TypeError, match="takes a NotificationEvent/ECSTEvent"):
        await broker.send_message({"topic": "t"})  # type: ignore[arg-type]  # the misuse under test


def test_our_kafka_broker_refuses_what_is_not_a_producer() -> None:
    with pytest.raises(TypeError, match="takes an AIOKafkaProducer"):
        kafka.KafkaMessageBroker("localhost:9092")  # type: ignore[arg-type]  # the misuse under test
