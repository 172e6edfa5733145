"""One consuming world per transport for the worker contract suite (reliability suite R1).

A :class:`Transport` makes fresh topics, runs a real
:class:`~cqrs_worker.worker.app.Worker` over them in one consumer group, and
publishes events the way that transport's producers do. Kafka and RabbitMQ
publish through the integration harnesses (aiokafka, our AMQP broker); the
in-memory transport keeps what a stopped worker had not finished and delivers
it to the next worker, as a broker redelivers.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from cqrs_worker.container import DefaultContainer
from cqrs_worker.envelope import encode_event, event_headers
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.maps import EventMap
from cqrs_worker.testing import WorkerHarness, run_worker_in_memory
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import WorkerSettings
from tests.integration.worker.kafka.harness import KafkaRig, Raw
from tests.integration.worker.rabbitmq.harness import Numbered, RabbitWorld, Seq
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic, unique_topic
from tests.support.names import unique_name

__all__ = ["Numbered", "Recorder", "Transport", "numbered"]

_TEST_SETTINGS: dict[str, Any] = {
    "health_port": 0,
    "retry_initial_delay": 0.001,
    "retry_max_delay": 0.01,
    "shutdown_timeout": 5.0,
}


class Flaky(RuntimeError):
    """Raised on purpose by the first attempts of an event."""


@dataclass
class Recorder:
    """What the handler saw; ``failures[event_id]`` first attempts of an event raise."""

    handled: list[Numbered] = field(default_factory=list)
    attempts: Counter[str] = field(default_factory=Counter)
    failures: dict[str, int] = field(default_factory=dict)
    jitter: float = 0.0

    async def handle(self, event: Numbered) -> None:
        event_id = str(event.event_id)
        self.attempts[event_id] += 1
        if self.jitter:
            await asyncio.sleep(random.random() * self.jitter)
        if self.attempts[event_id] <= self.failures.get(event_id, 0):
            raise Flaky(f"attempt {self.attempts[event_id]} of {event_id} fails on purpose")
        self.handled.append(event)

    def ids(self) -> set[str]:
        return {str(event.event_id) for event in self.handled}

    def mediator(self) -> EventMediator:
        event_map = EventMap()
        event_map.bind(Numbered, _Record)
        container = DefaultContainer()
        container.register_instance(Recorder, self)
        return EventMediator(event_map, container)


class _Record:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder

    async def handle(self, event: Numbered) -> None:
        await self.recorder.handle(event)


def numbered(topic: str, key: str, seq: int) -> Numbered:
    return Numbered(topic=topic, partition_key=key, payload=Seq(key=key, seq=seq))


class Transport(Protocol):
    async def topics(self, count: int, *, partitions: int = 1) -> list[str]:
        """``count`` fresh topics this world's group will consume."""
        ...

    def running(
        self, recorder: Recorder, topics: Sequence[str], **settings: Any
    ) -> contextlib.AbstractAsyncContextManager[Worker]:
        """A worker of this world's group, running while the block runs; stopped gracefully."""
        ...

    async def publish(self, events: Sequence[Numbered]) -> None: ...

    def sibling(self) -> Transport:
        """Another consumer group over the same topics (Kafka and RabbitMQ only)."""
        ...

    async def close(self) -> None: ...


class MemoryTransport:
    def __init__(self) -> None:
        self._harness: WorkerHarness | None = None
        self._pending: list[tuple[str, bytes, str | None, dict[str, str]]] = []

    async def topics(self, count: int, *, partitions: int = 1) -> list[str]:
        return [unique_name("contract") for _ in range(count)]

    @contextlib.asynccontextmanager
    async def running(
        self, recorder: Recorder, topics: Sequence[str], **settings: Any
    ) -> AsyncIterator[Worker]:
        async with run_worker_in_memory(
            recorder.mediator(), **{**_TEST_SETTINGS, "topics": tuple(topics), **settings}
        ) as harness:
            pending, self._pending = self._pending, []
            for topic, body, key, headers in pending:
                await harness.publish_raw(body, topic=topic, key=key, headers=headers)
            self._harness = harness
            try:
                yield harness.worker
            finally:
                self._harness = None  # publishers now wait for the next worker
        for message in harness.source.unacked:
            self._pending.append((message.topic, message.body, message.key, dict(message.headers)))

    async def publish(self, events: Sequence[Numbered]) -> None:
        for event in events:
            if self._harness is not None:
                await self._harness.publish(event)
            else:
                headers = event_headers(event)
                self._pending.append(
                    (event.topic, encode_event(event), event.partition_key, headers)
                )

    def sibling(self) -> Transport:
        raise NotImplementedError("the in-memory transport has one consumer group")

    async def close(self) -> None:
        pass


class KafkaTransport:
    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.group = unique_name("contract-group")

    async def topics(self, count: int, *, partitions: int = 1) -> list[str]:
        names = [unique_topic("contract") for _ in range(count)]
        return list(
            await asyncio.gather(*(create_topic(self.bootstrap, n, partitions) for n in names))
        )

    @contextlib.asynccontextmanager
    async def running(
        self, recorder: Recorder, topics: Sequence[str], **settings: Any
    ) -> AsyncIterator[Worker]:
        values = {
            **_TEST_SETTINGS,
            **FAST_GROUP_SETTINGS,
            "kafka_bootstrap": self.bootstrap,
            "group_id": self.group,
            "kafka_idempotence": False,
            "topics": tuple(topics),
            **settings,
        }
        async with Worker(recorder.mediator(), WorkerSettings(**values)).running() as worker:
            yield worker

    async def publish(self, events: Sequence[Numbered]) -> None:
        by_topic: dict[str, list[Raw]] = {}
        for event in events:
            by_topic.setdefault(event.topic, []).append(
                Raw(
                    value=encode_event(event),
                    key=(event.partition_key or "").encode() or None,
                    headers=[(k, v.encode()) for k, v in event_headers(event).items()],
                )
            )
        for topic, records in by_topic.items():
            rig = KafkaRig(bootstrap=self.bootstrap, topic=topic, group=self.group, partitions=1)
            await rig.produce(records)

    def sibling(self) -> Transport:
        return KafkaTransport(self.bootstrap)

    async def close(self) -> None:
        pass


class RabbitTransport:
    def __init__(self, url: str, *, world: RabbitWorld | None = None) -> None:
        # A sibling shares its owner's exchange (and connection); the owner cleans up.
        self._owner = world is None
        self.world = world if world is not None else RabbitWorld(url)
        self.group = unique_name("contract-group")
        self._topics: list[str] = []
        self._siblings: list[RabbitTransport] = []

    async def topics(self, count: int, *, partitions: int = 1) -> list[str]:
        names = [unique_name("contract") for _ in range(count)]
        self._topics.extend(names)
        return names

    @contextlib.asynccontextmanager
    async def running(
        self, recorder: Recorder, topics: Sequence[str], **settings: Any
    ) -> AsyncIterator[Worker]:
        values = {
            **_TEST_SETTINGS,
            "rabbitmq_url": self.world.url,
            "rabbitmq_exchange": self.world.exchange,
            "group_id": self.group,
            "topics": tuple(topics),
            **settings,
        }
        async with Worker(recorder.mediator(), WorkerSettings(**values)).running() as worker:
            yield worker

    async def publish(self, events: Sequence[Numbered]) -> None:
        await self.world.publish(events)

    def sibling(self) -> Transport:
        other = RabbitTransport(self.world.url, world=self.world)
        other._topics = self._topics
        self._siblings.append(other)
        return other

    async def close(self) -> None:
        if not self._owner:
            return
        groups = [self.group, *(other.group for other in self._siblings)]
        with contextlib.suppress(Exception):
            channel = await self.world.channel()
            for group in groups:
                for topic in self._topics:
                    for queue in (f"{group}.{topic}", f"{group}.{topic}.dlq"):
                        await channel.queue_delete(queue)
            await channel.close()
        await self.world.cleanup()
