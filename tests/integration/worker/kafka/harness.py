"""A Kafka topic, a consumer group and KafkaSources over them, for the integration tests.

Records are produced and read back with aiokafka itself (never with the code
under test), and committed offsets are read with ``AIOKafkaConsumer.committed``.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pydantic
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry, encode_event, event_headers
from cqrs_worker.worker.kafka import KafkaDeadLetterSink, KafkaSource
from cqrs_worker.worker.pipeline import UnknownEventPolicy, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.support.kafka import FAST_GROUP_SETTINGS, committed_offsets
from tests.support.waiting import async_wait_until

WORKER_ID = "worker-under-test"


class Item(pydantic.BaseModel):
    key: str
    seq: int
    fail: bool = False
    """Raise on every attempt."""
    block: bool = False
    """Wait for the journal's gate before finishing."""
    seconds: float = 0.0
    """Take this long to handle (a slow handler)."""


class ItemEvent(NotificationEvent[Item]):
    event_name: str = "Item"
    topic: str = "items"


@dataclass
class Journal:
    """What the handler did, shared by every source of a test."""

    handled: list[tuple[str, int]] = field(default_factory=list)
    attempts: Counter[tuple[str, int]] = field(default_factory=Counter)
    blocked: set[tuple[str, int]] = field(default_factory=set)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    started: list[float] = field(default_factory=list)
    """``time.monotonic()`` as each attempt started."""
    running: int = 0
    most_running: int = 0
    """The most attempts running at once."""

    def seqs(self, key: str) -> list[int]:
        return [seq for k, seq in self.handled if k == key]


class ItemHandler:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: ItemEvent) -> None:
        item, journal = event.payload, self.journal
        journal.attempts[item.key, item.seq] += 1
        journal.started.append(time.monotonic())
        journal.running += 1
        journal.most_running = max(journal.most_running, journal.running)
        try:
            await self._handle(item)
        finally:
            journal.running -= 1

    async def _handle(self, item: Item) -> None:
        journal = self.journal
        if item.seconds:
            await asyncio.sleep(item.seconds)
        if item.block:
            journal.blocked.add((item.key, item.seq))
            try:
                await journal.gate.wait()
            finally:
                journal.blocked.discard((item.key, item.seq))
        if item.fail:
            raise RuntimeError(f"cannot handle {item.key}#{item.seq}")
        journal.handled.append((item.key, item.seq))


def item(topic: str, key: str, seq: int, **flags: Any) -> ItemEvent:
    return ItemEvent(topic=topic, partition_key=key, payload=Item(key=key, seq=seq, **flags))


def keyless(event: ItemEvent) -> Raw:
    """``event`` as a record without a Kafka key (its envelope keeps its ``partition_key``),
    as python-cqrs and many producers send them."""
    headers = [(k, v.encode()) for k, v in event_headers(event).items()]
    return Raw(encode_event(event), key=None, headers=headers)


@dataclass
class Raw:
    """A record to produce as is."""

    value: bytes | None
    key: bytes | None = None
    headers: Sequence[tuple[str, bytes]] = ()
    partition: int | None = None


@dataclass
class KafkaRig:
    bootstrap: str
    topic: str
    group: str
    partitions: int
    journal: Journal = field(default_factory=Journal)
    stats: WorkerStats = field(default_factory=WorkerStats)
    running: dict[KafkaSource, asyncio.Task[None]] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def source(
        self,
        *,
        stats: WorkerStats | None = None,
        on_unknown_event: UnknownEventPolicy = "ack",
        max_attempts: int = 3,
        **options: Any,
    ) -> KafkaSource:
        event_map = EventMap()
        event_map.bind(ItemEvent, ItemHandler)
        container = DefaultContainer()
        container.register_instance(Journal, self.journal)
        stats = stats if stats is not None else self.stats
        sink = KafkaDeadLetterSink(bootstrap=self.bootstrap, enable_idempotence=False)
        pipeline = build_pipeline(
            mediator=EventMediator(event_map, container),
            codec=EnvelopeCodec(EventRegistry.from_event_map(event_map), max_size=10_000),
            dead_letters=sink,
            retry=RetryPolicy(max_attempts=max_attempts, initial_delay=0.01, max_delay=0.02),
            stats=stats,
            worker_id=WORKER_ID,
            on_unknown_event=on_unknown_event,
        )
        settings: dict[str, Any] = {
            "concurrency": 16,
            "batch_size": 100,
            "consumer_options": dict(FAST_GROUP_SETTINGS),
            **options,
        }
        return KafkaSource(
            bootstrap=self.bootstrap,
            group_id=self.group,
            topics=[self.topic],
            pipeline=pipeline,
            stats=stats,
            dead_letters=sink,
            **settings,
        )

    async def start(self, source: KafkaSource | None = None) -> KafkaSource:
        source = source or self.source()
        await source.start()
        self.running[source] = asyncio.create_task(source.run())
        return source

    async def stop(self, source: KafkaSource, timeout: float = 5.0) -> None:
        await source.stop(timeout)
        task = self.running.pop(source, None)
        if task is not None:
            async with asyncio.timeout(15):
                await task

    async def stop_all(self) -> None:
        for source in list(self.running):
            await self.stop(source, timeout=1.0)

    async def produce(self, records: Sequence[ItemEvent | Raw]) -> list[tuple[int, int]]:
        """Produce in order; returns (partition, offset) of each record."""
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, enable_idempotence=False)
        await producer.start()
        try:
            futures = []
            for record in records:
                if isinstance(record, ItemEvent):
                    futures.append(
                        await producer.send(
                            self.topic,
                            encode_event(record),
                            key=(record.partition_key or "").encode() or None,
                            headers=[(k, v.encode()) for k, v in event_headers(record).items()],
                        )
                    )
                else:
                    futures.append(
                        await producer.send(
                            self.topic,
                            record.value,
                            key=record.key,
                            headers=list(record.headers),
                            partition=record.partition,
                        )
                    )
            results = await asyncio.gather(*futures)
        finally:
            await producer.stop()
        return [(result.partition, result.offset) for result in results]

    async def committed(self) -> dict[int, int | None]:
        return await committed_offsets(self.bootstrap, self.group, self.topic, self.partitions)

    async def wait_committed(self, expected: dict[int, int | None], timeout: float = 10) -> None:
        """Poll the group's committed offsets until they equal ``expected``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            committed = await self.committed()
            if all(committed[p] == offset for p, offset in expected.items()):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"committed {committed}, expected {expected}; {self.stats}")
            await asyncio.sleep(0.1)

    async def read(self, topic: str, count: int, timeout: float = 10) -> list[Any]:
        """``count`` records of ``topic`` from the beginning (no group), in partition order."""
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        records: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                while len(records) < count:
                    batch = await consumer.getmany(timeout_ms=200)
                    for part in batch.values():
                        records.extend(part)
        except TimeoutError:
            pass  # the caller asserts on what arrived
        finally:
            await consumer.stop()
        return records

    async def handled(self, count: int, timeout: float = 20) -> None:
        await async_wait_until(
            lambda: len(self.journal.handled) >= count,
            timeout=timeout,
            message=lambda: f"{len(self.journal.handled)} of {count} handled; {self.stats}",
        )


MakeRig = Callable[..., Awaitable[KafkaRig]]
