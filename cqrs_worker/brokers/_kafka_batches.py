"""Per-partition record batches: how :class:`~cqrs_worker.brokers.KafkaMessageBroker` sends.

``AIOKafkaProducer.send()`` costs a coroutine, a partitioner call, a batch
lookup and a delivery future per message; for the relay's batches of
thousands that is most of the publish. Here messages are written straight
into aiokafka ``BatchBuilder`` s, one open builder per topic-partition, and
each full builder is handed over with ``send_batch()``: one future per
record batch instead of one per message. The records on the wire are the
same (aiokafka packs ``send()`` calls into the same builders).

Order: a partition's messages go into its builders in call order, and its
builders are submitted in that order; ``send_batch()`` queues a builder only
once the partition's previous batch was drained into a request, so batches
reach the partition in order (retries included, as with ``send()``).

Partitions are chosen by the producer's own partitioner, as ``send()``
chooses them, so a key lands where any other producer of the cluster puts it.
Hazard: that means reading ``producer._partitioner`` and
``producer.client.cluster``, which aiokafka does not promise to keep; a test
checks keys land where ``DefaultPartitioner`` puts them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from cqrs_worker.brokers.message import OutgoingMessage

__all__ = ["Submitted", "submit_batches"]

#: A record batch handed to the producer: its delivery future, topic, record count.
Submitted = tuple["asyncio.Future[Any]", str, int]

_KEY_CACHE_LIMIT = 100_000


class _Partitions:
    """The partition of each message, as the producer's partitioner picks it."""

    def __init__(self, producer: Any, cache: dict[tuple[str, int, bytes], int]) -> None:
        self._producer = producer
        self._partitioner = producer._partitioner  # the one send() would call
        # The default partitioner is a pure function of (key, partition count):
        # remember its answers, murmur2 in Python costs more than the rest.
        self._cache = cache if isinstance(self._partitioner, DefaultPartitioner) else None
        self.topics: dict[str, tuple[list[int], list[int]]] = {}

    async def learn(self, topic: str) -> None:
        """Read the topic's partitions once per publish, waiting for metadata as send() does."""
        await self._producer.partitions_for(topic)
        cluster = self._producer.client.cluster
        self.topics[topic] = (
            list(cluster.partitions_for_topic(topic)),
            list(cluster.available_partitions_for_topic(topic)),
        )

    def of(self, topic: str, key: bytes | None) -> int:
        everyone, available = self.topics[topic]
        if key is None or self._cache is None:
            return int(self._partitioner(key, everyone, available))
        slot = (topic, len(everyone), key)
        partition = self._cache.get(slot)
        if partition is None:
            if len(self._cache) >= _KEY_CACHE_LIMIT:
                self._cache.clear()
            partition = self._cache[slot] = int(self._partitioner(key, everyone, available))
        return partition


async def submit_batches(
    producer: Any,
    messages: Sequence[OutgoingMessage],
    partition_cache: dict[tuple[str, int, bytes], int],
) -> list[Submitted]:
    """Pack ``messages`` into record batches and hand them to ``producer``, in order."""
    partitions = _Partitions(producer, partition_cache)
    queued: dict[tuple[str, int], list[list[Any]]] = {}  # [builder, count] per batch
    for message in messages:
        topic = message.destination
        key = message.key.encode() if message.key is not None else None
        headers = [(name, value.encode()) for name, value in message.headers.items()]
        if topic not in partitions.topics:
            await partitions.learn(topic)
        tp = (topic, partitions.of(topic, key))
        builders = queued.get(tp)
        if builders is None:
            builders = queued[tp] = [[producer.create_batch(), 0]]
        current = builders[-1]
        if current[0].append(timestamp=None, key=key, value=message.body, headers=headers) is None:
            # Full. A fresh builder always takes its first record, however big.
            current = [producer.create_batch(), 0]
            builders.append(current)
            current[0].append(timestamp=None, key=key, value=message.body, headers=headers)
        current[1] += 1
    submitted: list[Submitted] = []
    # Round by round, so one partition's second batch does not hold up
    # every other partition's first while it waits for the first to drain.
    for round_ in range(max((len(b) for b in queued.values()), default=0)):
        for (topic, partition), builders in queued.items():
            if round_ < len(builders):
                builder, count = builders[round_]
                future = await producer.send_batch(builder, topic, partition=partition)
                future.add_done_callback(_retrieve)
                submitted.append((future, topic, count))
    return submitted


def _retrieve(future: asyncio.Future[Any]) -> None:
    # Read the outcome even if a later send_batch() raises and nobody awaits
    # this future, so asyncio never logs "exception was never retrieved".
    if not future.cancelled():
        future.exception()
