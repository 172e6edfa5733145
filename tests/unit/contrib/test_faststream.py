"""``cqrs_worker.contrib.faststream`` on FastStream's own test brokers (Kafka and RabbitMQ)."""

from __future__ import annotations

from typing import Any

import pytest
from faststream import AckPolicy, Context
from faststream.kafka import KafkaBroker, TestKafkaBroker
from faststream.rabbit import RabbitBroker, RabbitExchange, RabbitQueue, TestRabbitBroker

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.contrib.faststream import event_handler
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.unit.worker.sample import Journal, mediator, placed

FAST = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.001)


def _message(n: int, fail: int = 0) -> OutgoingMessage:
    return OutgoingMessage.from_event(placed(n, fail=fail))


async def test_kafka_handles_retries_and_dead_letters_with_origin_headers() -> None:
    journal, stats = Journal(), WorkerStats()
    broker = KafkaBroker("localhost:9092")
    handle = event_handler(mediator(journal), broker=broker, retry=FAST, stats=stats)
    broker.subscriber("orders", group_id="g", ack_policy=AckPolicy.ACK)(handle)
    dead: list[tuple[bytes, dict[str, Any]]] = []

    @broker.subscriber("orders.dlq", group_id="dlq")
    async def collect(message: Any = Context("message")) -> None:  # noqa: B008 - FastStream idiom
        dead.append((message.body, dict(message.headers)))

    async with TestKafkaBroker(broker) as test_broker:
        for outgoing in (_message(1), _message(2, fail=1), _message(3, fail=-1)):
            await test_broker.publish(outgoing.body, topic="orders", headers=dict(outgoing.headers))
        await test_broker.publish(b"\xff not json", topic="orders", headers={"event_name": "X"})

    assert sorted(journal.handled) == [1, 2]
    assert [headers["x-dlq-reason"] for _, headers in dead] == ["handler-failed", "not-json"]
    body, headers = dead[0]
    assert body == _message(3, fail=-1).body or b'"n":3' in body
    assert headers["x-dlq-attempts"] == "2"
    assert headers["x-dlq-original-topic"] == "orders"
    assert {"x-dlq-original-partition", "x-dlq-original-offset"} <= set(headers)
    assert headers["event_name"] == "OrderPlaced"
    assert (stats.retried, stats.dead_lettered) == (2, 2)


async def test_rabbitmq_dead_letters_to_the_dead_letter_exchange() -> None:
    journal = Journal()
    broker = RabbitBroker()
    handle = event_handler(mediator(journal), broker=broker, retry=FAST)
    broker.subscriber("orders-queue", ack_policy=AckPolicy.ACK)(handle)
    dead: list[dict[str, Any]] = []

    @broker.subscriber(
        RabbitQueue("orders-queue.dlq", routing_key="orders-queue"),
        exchange=RabbitExchange("cqrs.events.dlx"),
    )
    async def collect(message: Any = Context("message")) -> None:  # noqa: B008 - FastStream idiom
        dead.append(dict(message.headers))

    async with TestRabbitBroker(broker) as test_broker:
        good, bad = _message(1), _message(2, fail=-1)
        await test_broker.publish(good.body, queue="orders-queue", headers=dict(good.headers))
        await test_broker.publish(bad.body, queue="orders-queue", headers=dict(bad.headers))

    assert journal.handled == [1]
    [headers] = dead
    assert headers["x-dlq-reason"] == "handler-failed"
    assert headers["x-dlq-original-routing-key"] == "orders-queue"


async def test_an_unknown_event_is_acked_and_counted() -> None:
    stats = WorkerStats()
    broker = KafkaBroker("localhost:9092")
    broker.subscriber("orders", group_id="g")(event_handler(mediator(), broker=broker, stats=stats))

    async with TestKafkaBroker(broker) as test_broker:
        await test_broker.publish(
            b'{"event_name": "Nobody", "event_id": "00000000-0000-0000-0000-000000000001",'
            b' "event_timestamp": "2026-01-01T00:00:00Z", "topic": "orders", "payload": {}}',
            topic="orders",
        )

    assert stats.unknown == 1


def test_a_dead_letter_destination_is_required() -> None:
    with pytest.raises(TypeError, match="broker="):
        event_handler(mediator())
