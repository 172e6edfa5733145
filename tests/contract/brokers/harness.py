# readers return what arrived by a deadline, so tests can assert on it
"""One publishing harness per transport: a started broker, a fresh destination, a raw reader.

Each harness reads back with the transport's own client (an aiokafka consumer,
an aio-pika queue bound to the exchange), never with our code, so the contract
tests check what really reached the broker.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any, Protocol

import aio_pika
import aio_pika.abc
import pydantic
from aiokafka import AIOKafkaConsumer  # type: ignore[import-untyped]  # aiokafka ships no type hints

from cqrs_worker.brokers import (
    AMQPMessageBroker,
    InMemoryBroker,
    KafkaMessageBroker,
    MessageBroker,
    kafka_producer_factory,
)
from cqrs_worker.errors import PublishError
from cqrs_worker.events import NotificationEvent
from tests.support.kafka import create_topic, unique_topic
from tests.support.names import unique_name
from tests.support.services import kafka_bootstrap_from_env


class Seq(pydantic.BaseModel):
    key: str
    seq: int


class Sequenced(NotificationEvent[Seq]):
    event_name: str = "Sequenced"
    topic: str = "sequenced"


def sequenced(topic: str, key: str, seq: int) -> Sequenced:
    return Sequenced(topic=topic, partition_key=key, payload=Seq(key=key, seq=seq))


@dataclass(frozen=True)
class Received:
    """A message as the transport's own client read it back (``key``: Kafka's message key)."""

    key: str | None
    body: bytes
    headers: dict[str, str]


def kafka_grants_producer_ids() -> bool:
    """Whether the test Kafka supports the idempotent producer.

    Tansu 0.6 (started when ``CQRS_WORKER_TEST_KAFKA`` is unset) answers
    aiokafka's InitProducerId v0 with UNKNOWN_SERVER_ERROR; Apache Kafka grants it.
    """
    return kafka_bootstrap_from_env() is not None


def kafka_broker(
    bootstrap: str, *, publish_timeout: float = 30, **producer_options: Any
) -> KafkaMessageBroker:
    producer_options.setdefault("enable_idempotence", kafka_grants_producer_ids())
    producer = kafka_producer_factory(bootstrap, **producer_options)
    return KafkaMessageBroker(producer, publish_timeout=publish_timeout)


async def read_kafka(
    bootstrap: str, topic: str, count: int, *, timeout: float
) -> list[KafkaRecord]:
    """Read ``count`` records of ``topic`` from the start (every partition, no group)."""
    consumer: Any = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(records) < count and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for batch in batches.values():
                records.extend(batch)
    finally:
        await consumer.stop()
    return [KafkaRecord.of(r) for r in records]


class Harness(Protocol):
    @property
    def broker(self) -> MessageBroker: ...

    @property
    def destination(self) -> str: ...

    async def read(self, count: int, *, timeout: float) -> list[Received]: ...

    async def replace_broker(self) -> None:
        """Close the broker and put a new one, not started, in its place."""
        ...

    async def aclose(self) -> None: ...


class MemoryHarness:
    def __init__(self) -> None:
        self.broker: InMemoryBroker = InMemoryBroker(maxlen=100_000)
        self.destination = unique_name("memory")

    async def setup(self) -> None:
        await self.broker.start()

    async def read(self, count: int, *, timeout: float) -> list[Received]:
        messages = await self.broker.wait_for(count, destination=self.destination, timeout=timeout)
        return [Received(m.key, m.body, dict(m.headers)) for m in messages]

    async def replace_broker(self) -> None:
        await self.broker.close()
        self.broker = InMemoryBroker(maxlen=100_000)

    async def aclose(self) -> None:
        await self.broker.close()


class KafkaHarness:
    """A fresh 4-partition topic; reads every partition from the start, no group."""

    def __init__(self, bootstrap: str, partitions: int = 4) -> None:
        self.bootstrap = bootstrap
        self.partitions = partitions
        self.destination = unique_topic("publish")
        self.broker: KafkaMessageBroker = kafka_broker(bootstrap)

    async def setup(self) -> None:
        await create_topic(self.bootstrap, self.destination, self.partitions)
        await self.broker.start()

    async def read(self, count: int, *, timeout: float) -> list[Received]:
        return [
            Received(r.key, r.value, r.headers)
            for r in await read_kafka(self.bootstrap, self.destination, count, timeout=timeout)
        ]

    async def replace_broker(self) -> None:
        await self.broker.close()
        self.broker = kafka_broker(self.bootstrap)

    async def aclose(self) -> None:
        await self.broker.close()


@dataclass(frozen=True)
class KafkaRecord:
    partition: int
    key: str | None
    value: bytes
    headers: dict[str, str]
    raw_headers: tuple[tuple[str, bytes], ...]

    @classmethod
    def of(cls, record: Any) -> KafkaRecord:
        raw = tuple(record.headers)
        return cls(
            partition=record.partition,
            key=record.key.decode() if record.key is not None else None,
            value=record.value,
            headers={name: value.decode() for name, value in raw},
            raw_headers=raw,
        )


class AMQPHarness:
    """A fresh exchange; an exclusive queue bound to it by the destination."""

    def __init__(self, url: str, **options: Any) -> None:
        self.url = url
        self.destination = unique_name("publish")
        self.exchange = unique_name("cqrs.test")
        self._options = options
        self.broker: AMQPMessageBroker = AMQPMessageBroker(url, exchange=self.exchange, **options)
        self._connection: aio_pika.abc.AbstractConnection | None = None
        self.queue: aio_pika.abc.AbstractQueue | None = None

    async def setup(self, binding_key: str | None = None) -> None:
        await self.broker.start()
        self._connection = await aio_pika.connect(self.url)
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=500)
        self.queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await self.queue.bind(self.exchange, binding_key or self.destination)

    async def read(self, count: int, *, timeout: float) -> list[Received]:
        return [
            Received(None, m.body, _text_headers(m.headers))
            for m in await self.read_messages(count, timeout)
        ]

    async def replace_broker(self) -> None:
        await self.broker.close()
        self.broker = AMQPMessageBroker(self.url, exchange=self.exchange, **self._options)

    async def read_messages(
        self, count: int, timeout: float
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        assert self.queue is not None, "call setup() first"
        messages: list[aio_pika.abc.AbstractIncomingMessage] = []
        done = asyncio.Event()

        async def take(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            messages.append(message)
            if len(messages) >= count:
                done.set()

        tag = await self.queue.consume(take, no_ack=True)
        try:
            async with asyncio.timeout(timeout):
                await done.wait()
        except TimeoutError:
            pass  # the caller asserts on what arrived
        finally:
            await self.queue.cancel(tag)
        return messages

    async def aclose(self) -> None:
        try:
            await self.broker.close()
        finally:
            if self._connection is not None:
                channel = await self._connection.channel()
                await channel.exchange_delete(self.exchange)
                await self._connection.close()


def _text_headers(headers: dict[str, Any]) -> dict[str, str]:
    return {
        name: value.decode() if isinstance(value, bytes) else str(value)
        for name, value in headers.items()
    }


async def publish_within(broker: MessageBroker, messages: list[Any], *, timeout: float) -> None:
    """Publish, trying again on PublishError until ``timeout`` (a broker coming back)."""
    last: PublishError | None = None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await broker.publish(messages)
            return
        except PublishError as exc:
            last = exc
            await asyncio.sleep(0.05)  # a pause between attempts, not a wait for a condition
    raise TimeoutError(f"no publish succeeded within {timeout}s; last error: {last}")
