"""AMQPMessageBroker against a real RabbitMQ."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import aio_pika
import orjson
import pytest
from yarl import URL

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from cqrs_worker.errors import PublishError
from tests.contract.brokers.harness import AMQPHarness, publish_within, sequenced
from tests.support.names import unique_name
from tests.support.net import LOOPBACK, free_port, silent_server
from tests.support.proxy import TcpProxy


@pytest.fixture
async def amqp(rabbitmq_url: str) -> AsyncIterator[AMQPHarness]:
    harness = AMQPHarness(rabbitmq_url)
    await harness.setup()
    try:
        yield harness
    finally:
        await harness.aclose()


async def test_messages_are_persistent_and_carry_the_event_properties(amqp: AMQPHarness) -> None:
    event = sequenced(amqp.destination, "k", 1)

    await amqp.broker.publish([OutgoingMessage.from_event(event)])
    (message,) = await amqp.read_messages(1, timeout=10)

    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.routing_key == amqp.destination
    assert message.message_id == str(event.event_id)
    assert message.type == "Sequenced"
    assert message.content_type == "application/json"
    assert message.headers == {
        "event_name": "Sequenced",
        "event_id": str(event.event_id),
        "content-type": "application/json",
        "partition_key": "k",
    }


async def test_an_unroutable_message_is_an_error_not_a_silent_drop(amqp: AMQPHarness) -> None:
    routed = OutgoingMessage.from_event(sequenced(amqp.destination, "k", 1))
    nowhere = OutgoingMessage.from_event(sequenced("no-queue-is-bound-here", "k", 2))

    with pytest.raises(PublishError, match=r"1 of 2 .*'no-queue-is-bound-here'.*NO_ROUTE"):
        await amqp.broker.publish([routed, nowhere])

    assert len(await amqp.read_messages(1, timeout=10)) == 1


async def test_routing_by_event_name(rabbitmq_url: str) -> None:
    harness = AMQPHarness(rabbitmq_url, routing="event_name")
    await harness.setup(binding_key="Sequenced")
    try:
        await harness.broker.publish([OutgoingMessage.from_event(sequenced("any-topic", "k", 1))])
        (message,) = await harness.read_messages(1, timeout=10)
        assert message.routing_key == "Sequenced"
        with pytest.raises(PublishError, match="no 'event_name' header"):
            await harness.broker.publish([OutgoingMessage(destination="t", body=b"{}")])
    finally:
        await harness.aclose()


async def test_the_default_exchange_routes_to_the_queue_named_by_the_destination(
    rabbitmq_url: str,
) -> None:
    broker = AMQPMessageBroker(rabbitmq_url, exchange="")
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(unique_name("direct"), exclusive=True)
        await broker.start()
        await broker.publish([OutgoingMessage.from_event(sequenced(queue.name, "k", 1))])
        async with queue.iterator(no_ack=True) as messages, asyncio.timeout(10):
            message = await anext(messages)
        assert message.routing_key == queue.name
    finally:
        await broker.close()
        await connection.close()


async def test_an_exchange_of_another_type_fails_start(rabbitmq_url: str) -> None:
    name = unique_name("cqrs.test")
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        await channel.declare_exchange(name, aio_pika.ExchangeType.FANOUT, auto_delete=True)
        broker = AMQPMessageBroker(rabbitmq_url, exchange=name)
        with pytest.raises(PublishError, match="PRECONDITION_FAILED"):
            await broker.start()
    finally:
        channel = await connection.channel()
        await channel.exchange_delete(name)
        await connection.close()


async def test_an_unreachable_rabbitmq_fails_start_quickly() -> None:
    broker = AMQPMessageBroker(f"amqp://guest:guest@{LOOPBACK}:{free_port()}/")
    began = time.monotonic()

    with pytest.raises(PublishError, match="cannot start publishing"):
        await broker.start()

    assert time.monotonic() - began < 5


async def test_a_server_that_never_answers_fails_start_within_the_timeout() -> None:
    async with silent_server() as port:
        broker = AMQPMessageBroker(f"amqp://guest:guest@{LOOPBACK}:{port}/", connect_timeout=1)
        began = time.monotonic()
        with pytest.raises(PublishError, match="timed out"):
            await broker.start()
        assert time.monotonic() - began < 4


async def test_a_cut_connection_fails_publish_then_the_robust_connection_recovers(
    rabbitmq_url: str, make_tcp_proxy: Callable[[str, int], TcpProxy]
) -> None:
    direct = URL(rabbitmq_url)
    proxy = make_tcp_proxy(direct.host or LOOPBACK, direct.port or 5672)
    # aio-pika reads connection options from the URL query; the default
    # reconnect interval (5 s) is longer than this test's publish timeout.
    url = str(direct.with_host(LOOPBACK).with_port(proxy.port) % {"reconnect_interval": "0.2"})
    harness = AMQPHarness(url, publish_timeout=1)
    harness.url = rabbitmq_url  # the reading side goes straight to RabbitMQ
    await harness.setup()
    try:
        await harness.broker.publish(
            [OutgoingMessage.from_event(sequenced(harness.destination, "k", 0))]
        )
        proxy.cut()
        began = time.monotonic()
        with pytest.raises(PublishError):
            await harness.broker.publish(
                [OutgoingMessage.from_event(sequenced(harness.destination, "k", 1))]
            )
        assert time.monotonic() - began < 4
        proxy.restore()
        # The robust connection reconnects in the background; a publish waits
        # for it up to publish_timeout (1 s here), so allow a few attempts.
        await publish_within(
            harness.broker,
            [OutgoingMessage.from_event(sequenced(harness.destination, "k", 2))],
            timeout=15,
        )
        # 2 or 3 messages (the failed publish may have been routed): read what is there.
        received = await harness.read_messages(3, timeout=1)
        seqs = [orjson.loads(m.body)["payload"]["seq"] for m in received]
        assert {0, 2} <= set(seqs), "a confirmed message was lost"
    finally:
        proxy.restore()
        await harness.aclose()


async def test_bind_queues_declares_queues_a_worker_can_consume(rabbitmq_url: str) -> None:
    from cqrs_worker.worker.rabbitmq.queues import QueueSpec
    from cqrs_worker.worker.rabbitmq.topology import connect, stop_quietly

    exchange, queue = unique_name("cqrs.test"), unique_name("bound")
    broker = AMQPMessageBroker(rabbitmq_url, exchange=exchange, bind_queues=[queue])
    try:
        await broker.publish([OutgoingMessage.from_event(sequenced("any.topic", "k", 1))])
        # The worker declares the same queue; RabbitMQ refuses it if the arguments differ.
        worker_broker, _ = await connect(
            url=rabbitmq_url,
            exchange=exchange,
            dead_letter_exchange=f"{exchange}.dlx",
            queues=[QueueSpec.of(queue)],
            dlq_suffix=".dlq",
            timeout=15,
            reconnect_interval=1,
        )
        await stop_quietly(worker_broker)
        connection = await aio_pika.connect(rabbitmq_url)
        async with connection:
            channel = await connection.channel()
            declared = await channel.get_queue(queue)
            message = await declared.get(no_ack=True, timeout=10)  # bound with "#"
            assert orjson.loads(message.body)["payload"]["seq"] == 1
            for name in (queue, f"{queue}.dlq"):
                await channel.queue_delete(name)
            for name in (exchange, f"{exchange}.dlx"):
                await channel.exchange_delete(name)
    finally:
        await broker.close()
