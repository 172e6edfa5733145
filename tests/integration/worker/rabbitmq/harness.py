"""A RabbitMQ world per test: fresh exchange and queue names, a journal of handled events.

Messages are published with our :class:`AMQPMessageBroker` (so they carry the
``partition_key`` header) or raw with aio-pika, and read back with aio-pika,
never with the code under test.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import aio_pika.abc
import pydantic

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from cqrs_worker.container import DefaultContainer
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import NotificationEvent
from cqrs_worker.maps import EventMap
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.rabbitmq import QueueSpec, RabbitDeadLetterSink, RabbitSource
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.support.names import unique_name

WORKER_ID = "rabbit-test-worker"


class Seq(pydantic.BaseModel):
    key: str
    seq: int


class Numbered(NotificationEvent[Seq]):
    event_name: str = "Numbered"
    topic: str = "numbered"


class HandlerFailed(RuntimeError):
    """What the journal raises for a key told to fail."""


@dataclass
class Journal:
    """What the handler saw, and how it should behave per key."""

    handled: list[Numbered] = field(default_factory=list)
    started: list[Numbered] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    gates: dict[str, asyncio.Event] = field(default_factory=dict)
    gate_from: dict[str, int] = field(default_factory=dict)
    delay: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, event: Numbered) -> None:
        self.started.append(event)
        key, seq = event.payload.key, event.payload.seq
        gate = self.gates.get(key)
        if gate is not None and seq >= self.gate_from.get(key, 0):
            await gate.wait()
        if self.delay:
            await asyncio.sleep(self.delay)
        else:
            await asyncio.sleep(0)
        if key in self.failing:
            raise HandlerFailed(f"{key} #{seq} fails on purpose")
        self.handled.append(event)
        self.changed.set()

    def by_key(self) -> dict[str, list[int]]:
        seqs: dict[str, list[int]] = defaultdict(list)
        for event in self.handled:
            seqs[event.payload.key].append(event.payload.seq)
        return dict(seqs)

    def ids(self) -> set[str]:
        return {str(event.event_id) for event in self.handled}


class Record:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: Numbered) -> None:
        await self.journal.handle(event)


@dataclass
class RabbitWorld:
    """Names of this test's exchange, queue and dead-letter objects, and helpers around them."""

    url: str
    exchange: str = field(default_factory=lambda: unique_name("ex"))
    topic: str = field(default_factory=lambda: unique_name("numbered"))
    queue: str = field(default_factory=lambda: unique_name("q"))
    journal: Journal = field(default_factory=Journal)
    stats: WorkerStats = field(default_factory=WorkerStats)
    _connection: aio_pika.abc.AbstractConnection | None = None

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dlx"

    @property
    def dlq(self) -> str:
        return f"{self.queue}.dlq"

    def event(self, key: str, seq: int) -> Numbered:
        return Numbered(topic=self.topic, partition_key=key, payload=Seq(key=key, seq=seq))

    def mediator(self) -> EventMediator:
        event_map = EventMap()
        event_map.bind(Numbered, Record)
        container = DefaultContainer()
        container.register_instance(Journal, self.journal)
        return EventMediator(event_map, container)

    def pipeline(self, sink: RabbitDeadLetterSink, *, max_attempts: int = 3) -> Pipeline:
        mediator = self.mediator()
        return build_pipeline(
            mediator=mediator,
            codec=EnvelopeCodec(EventRegistry.from_event_map(mediator.event_map)),
            dead_letters=sink,
            retry=RetryPolicy(max_attempts=max_attempts, initial_delay=0.01, max_delay=0.05),
            stats=self.stats,
            worker_id=WORKER_ID,
        )

    def source(
        self, *, url: str | None = None, max_attempts: int = 3, **options: Any
    ) -> RabbitSource:
        sink = RabbitDeadLetterSink(exchange=self.dead_letter_exchange, publish_timeout=5.0)
        options.setdefault("connect_timeout", 5.0)
        return RabbitSource(
            url=url or self.url,
            queues=[QueueSpec(self.queue, (self.topic,))],
            pipeline=self.pipeline(sink, max_attempts=max_attempts),
            stats=self.stats,
            dead_letters=sink,
            exchange=self.exchange,
            **options,
        )

    async def channel(self) -> aio_pika.abc.AbstractChannel:
        if self._connection is None:
            self._connection = await aio_pika.connect(self.url)
        return await self._connection.channel()

    async def publish(self, events: Iterable[Numbered]) -> None:
        broker = AMQPMessageBroker(self.url, exchange=self.exchange)
        await broker.start()
        try:
            await broker.publish([OutgoingMessage.from_event(event) for event in events])
        finally:
            await broker.close()

    async def publish_raw(self, body: bytes, headers: dict[str, Any] | None = None) -> None:
        channel = await self.channel()
        exchange = await channel.get_exchange(self.exchange)
        await exchange.publish(
            aio_pika.Message(body, headers=headers or {}), routing_key=self.topic
        )
        await channel.close()

    async def ready_count(self, queue: str | None = None) -> int:
        """Messages ready in the queue (not delivered, or requeued)."""
        channel = await self.channel()
        declared = await channel.declare_queue(queue or self.queue, passive=True)
        await channel.close()
        count = declared.declaration_result.message_count
        return int(count or 0)

    async def drain(
        self, queue: str | None = None, *, expect: int, timeout: float = 10.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Take ``expect`` messages off the queue (acking them), or what came by ``timeout``."""
        channel = await self.channel()
        got: list[aio_pika.abc.AbstractIncomingMessage] = []
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        declared = await channel.declare_queue(queue or self.queue, passive=True)
        while len(got) < expect and loop.time() < deadline:
            message = await declared.get(fail=False, no_ack=True)
            if message is None:
                await asyncio.sleep(0.02)
                continue
            got.append(message)
        await channel.close()
        return got

    async def cleanup(self) -> None:
        with contextlib.suppress(Exception):
            channel = await self.channel()
            for queue in (self.queue, self.dlq):
                await channel.queue_delete(queue)
            for exchange in (self.exchange, self.dead_letter_exchange):
                await channel.exchange_delete(exchange)
            await channel.close()
        if self._connection is not None:
            await self._connection.close()
