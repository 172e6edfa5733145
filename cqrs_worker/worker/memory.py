"""An in-memory transport: :class:`InMemorySource` and :class:`InMemoryDeadLetterSink`.

Messages put into the source go through the same
:class:`~cqrs_worker.worker.lanes.Lanes` scheduler and pipeline as Kafka and
RabbitMQ deliveries; the source acknowledges a message when its pipeline
returned, exactly as the real sources do. Used by the unit tests and by the
user test kit (:mod:`cqrs_worker.testing`).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.envelope import EVENT_NAME_HEADER
from cqrs_worker.worker.dead_letter import PREFIX
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.lanes import Lanes
from cqrs_worker.worker.pipeline import Pipeline
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["InMemoryDeadLetterSink", "InMemoryMessage", "InMemorySource"]


@dataclass(frozen=True, slots=True)
class InMemoryMessage:
    """One message as the in-memory source received it (``offset`` counts per source)."""

    topic: str
    body: bytes
    key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    offset: int = 0


class InMemorySource:
    """A :class:`~cqrs_worker.worker.source.Source` fed by :meth:`put`.

    ``acked`` lists the messages whose pipeline finished (handled,
    dead-lettered or acknowledged as unknown), in completion order. After
    :meth:`stop`, ``unacked`` holds what was received but not finished: a
    broker would redeliver those. Messages with the same key (per topic) run
    in order; keyless ones run concurrently. ``stats`` counts what
    entered the pipeline.
    """

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        concurrency: int = 64,
        topics: Collection[str] = (),
        stats: WorkerStats | None = None,
        name: str = "memory",
    ) -> None:
        self._name = name
        self._stats = stats if stats is not None else WorkerStats()
        self._topics = frozenset(topics)
        self._lanes = Lanes(pipeline, self._done, concurrency=concurrency)
        self._inbox: asyncio.Queue[InMemoryMessage] = asyncio.Queue()
        self._offsets = itertools.count()
        self._received: dict[int, InMemoryMessage] = {}
        self._stopping = asyncio.Event()
        self._started = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.acked: list[InMemoryMessage] = []
        self.unacked: list[InMemoryMessage] = []
        self.on_ack: Callable[[InMemoryMessage], None] | None = None

    @property
    def name(self) -> str:
        return self._name

    def ready(self) -> bool:
        return self._started and not self._stopping.is_set()

    def put(self, message: OutgoingMessage) -> InMemoryMessage:
        """Deliver ``message`` (its ``destination`` is the topic) to this source."""
        if self._topics and message.destination not in self._topics:
            raise ValueError(
                f"this source reads {sorted(self._topics)}, not {message.destination!r}"
            )
        received = InMemoryMessage(
            topic=message.destination,
            body=message.body,
            key=message.key,
            headers=dict(message.headers),
            offset=next(self._offsets),
        )
        self._inbox.put_nowait(received)
        return received

    async def start(self) -> None:
        self._started = True

    async def run(self) -> None:
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            while not self._stopping.is_set():
                getting = asyncio.ensure_future(self._inbox.get())
                await asyncio.wait((getting, stopping), return_when=asyncio.FIRST_COMPLETED)
                if not getting.done():
                    getting.cancel()
                    break
                self._submit(getting.result())
        finally:
            stopping.cancel()

    async def stop(self, timeout: float) -> None:
        self._stopping.set()
        if not await self._lanes.wait_idle(timeout):
            await self._lanes.cancel()
        while not self._inbox.empty():
            queued = self._inbox.get_nowait()
            self._received[queued.offset] = queued
        self.unacked = sorted(self._received.values(), key=lambda m: m.offset)
        self._received.clear()

    async def wait_acked(self, count: int, timeout: float) -> list[InMemoryMessage]:
        """Wait until ``count`` messages were acknowledged; ``TimeoutError`` says how many were."""
        if len(self.acked) < count:
            waiter = (count, asyncio.get_running_loop().create_future())
            self._waiters.append(waiter)
            try:
                await asyncio.wait_for(waiter[1], timeout)
            except TimeoutError:
                raise TimeoutError(
                    f"{len(self.acked)} of {count} messages were acknowledged within {timeout}s"
                ) from None
            finally:
                self._waiters.remove(waiter)
        return list(self.acked)

    def _submit(self, message: InMemoryMessage) -> None:
        self._received[message.offset] = message
        self._stats.add_received(message.topic, 1)
        lane = (message.topic, message.key) if message.key is not None else object()
        name = message.headers.get(EVENT_NAME_HEADER)
        self._lanes.submit(
            Delivery(
                body=message.body,
                event_name=name,
                lane=lane,
                raw=message,
                destination=message.topic,
            )
        )

    def _done(self, delivery: Delivery) -> None:
        message: InMemoryMessage = delivery.raw
        self._received.pop(message.offset, None)
        self.acked.append(message)
        if self.on_ack is not None:
            self.on_ack(message)
        for count, future in self._waiters:
            if len(self.acked) >= count and not future.done():
                future.set_result(None)


class InMemoryDeadLetterSink:
    """Publishes dead letters to ``<topic><suffix>`` on a broker (an ``InMemoryBroker`` in tests).

    Keeps the original body, key and headers, and adds the ``x-dlq-*``
    headers plus ``x-dlq-original-topic`` and ``x-dlq-original-offset``.
    """

    def __init__(self, broker: MessageBroker, *, suffix: str = ".dlq") -> None:
        self._broker = broker
        self._suffix = suffix

    async def send(self, delivery: Delivery, headers: Mapping[str, str], /) -> None:
        message: InMemoryMessage = delivery.raw
        origin = {
            f"{PREFIX}original-topic": message.topic,
            f"{PREFIX}original-offset": str(message.offset),
        }
        await self._broker.publish(
            [
                OutgoingMessage(
                    destination=f"{message.topic}{self._suffix}",
                    body=message.body,
                    key=message.key,
                    headers={**message.headers, **headers, **origin},
                )
            ]
        )
