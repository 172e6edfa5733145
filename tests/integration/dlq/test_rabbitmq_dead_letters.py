"""Reading and replaying RabbitMQ dead letters put in a dead-letter queue by hand (no worker)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import pytest

from cqrs_worker.dlq.filters import LetterFilter
from cqrs_worker.dlq.rabbitmq import RabbitDeadLetters
from cqrs_worker.dlq.replay import ReplayOptions
from tests.integration.dlq.support import envelope
from tests.support.names import unique_name

pytestmark = pytest.mark.rabbitmq


class Queues:
    def __init__(self, channel: aio_pika.abc.AbstractChannel, name: str) -> None:
        self.channel = channel
        self.name = name
        self.dlq = f"{name}.dlq"

    async def put_dead(self, count: int, **headers: Any) -> list[str]:
        ids = []
        for i in range(count):
            event_id, body = envelope(user=f"u-{i}")
            ids.append(event_id)
            message = aio_pika.Message(
                body,
                message_id=event_id,
                headers={
                    "event_id": event_id,
                    "event_name": "Signup",
                    "x-dlq-reason": "handler-failed",
                    "x-dlq-exception-type": "builtins.RuntimeError",
                    "x-dlq-original-queue": self.name,
                    "x-dlq-original-exchange": "events",
                    "x-dlq-original-routing-key": "signups",
                    **headers,
                },
            )
            await self.channel.default_exchange.publish(message, routing_key=self.dlq)
        return ids

    async def drain(self, name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        queue = await self.channel.get_queue(name)
        got = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            got.append(message)
        return got


@pytest.fixture
async def queues(rabbitmq_url: str) -> AsyncIterator[Queues]:
    connection = await aio_pika.connect(rabbitmq_url)
    channel = await connection.channel()
    q = Queues(channel, unique_name("dlq-rabbit"))
    await channel.declare_queue(q.name, durable=True)
    await channel.declare_queue(q.dlq, durable=True)
    try:
        yield q
    finally:
        await channel.queue_delete(q.name)
        await channel.queue_delete(q.dlq)
        await connection.close()


async def test_browse_gives_every_message_back_in_order(rabbitmq_url: str, queues: Queues) -> None:
    ids = await queues.put_dead(5)
    async with RabbitDeadLetters(url=rabbitmq_url, queue=queues.name, timeout=10) as dlq:
        assert dlq.in_queue == 5
        first = [letter.event_id for letter in await dlq.browse(3)]
        again = [letter.event_id for letter in await dlq.browse(10)]
    assert first == ids[:3]
    assert again == ids
    assert [m.message_id for m in await queues.drain(queues.dlq)] == ids


async def test_replay_publishes_to_the_original_queue_and_removes_only_what_it_sent(
    rabbitmq_url: str, queues: Queues
) -> None:
    broken = await queues.put_dead(3, **{"x-dlq-exception-type": "app.Broken"})
    other = await queues.put_dead(2)
    only_broken = ReplayOptions(filter=LetterFilter(exception_types=frozenset({"Broken"})))
    async with RabbitDeadLetters(url=rabbitmq_url, queue=queues.name, timeout=10) as dlq:
        report = await dlq.replay(only_broken)
    assert (report.read, report.matched, report.replayed) == (5, 3, 3)
    copies = await queues.drain(queues.name)
    assert [m.message_id for m in copies] == broken, "same event ids (and message ids), in order"
    for copy in copies:
        headers = copy.headers or {}
        assert headers["x-dlq-replay-count"] == "1"
        assert "x-dlq-replayed-at" in headers
        assert "x-dlq-reason" not in headers
        assert copy.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    left = await queues.drain(queues.dlq)
    assert [m.message_id for m in left] == other, "the others stay, in order"


async def test_dry_run_sends_and_removes_nothing(rabbitmq_url: str, queues: Queues) -> None:
    ids = await queues.put_dead(4)
    async with RabbitDeadLetters(url=rabbitmq_url, queue=queues.name, timeout=10) as dlq:
        report = await dlq.replay(ReplayOptions(dry_run=True))
    assert (report.matched, report.replayed) == (4, 0)
    assert await queues.drain(queues.name) == []
    assert [m.message_id for m in await queues.drain(queues.dlq)] == ids


async def test_count_and_rate_bound_a_replay(rabbitmq_url: str, queues: Queues) -> None:
    ids = await queues.put_dead(8)
    async with RabbitDeadLetters(url=rabbitmq_url, queue=queues.name, timeout=10) as dlq:
        started = time.monotonic()
        report = await dlq.replay(ReplayOptions(count=5, rate=5.0))
        took = time.monotonic() - started
    assert report.replayed == 5
    assert took >= 0.75, f"5 messages at 5/s took {took:.2f}s"
    assert [m.message_id for m in await queues.drain(queues.name)] == ids[:5]
    assert [m.message_id for m in await queues.drain(queues.dlq)] == ids[5:]
