"""``Assignment``: per-partition pending counts and the deliveries parked behind a retried key."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.kafka.assignment import Assignment
from cqrs_worker.worker.kafka.flow import FlowControl
from tests.support.waiting import async_wait_until

TP0, TP1 = TopicPartition("t", 0), TopicPartition("t", 1)


def _record(tp: TopicPartition, offset: int, key: bytes) -> Any:
    return ConsumerRecord(
        topic=tp.topic,
        partition=tp.partition,
        offset=offset,
        timestamp=0,
        timestamp_type=0,
        key=key,
        value=b"{}",
        checksum=None,
        serialized_key_size=len(key),
        serialized_value_size=2,
        headers=(),
    )


class FailingKey:
    """A pipeline where key ``stuck`` has failed once and waits on ``gate``."""

    def __init__(self) -> None:
        self.gate = asyncio.Event()

    async def __call__(self, delivery: Delivery) -> None:
        if delivery.raw.key == b"stuck":
            delivery.first_failure_at = datetime.datetime.now(datetime.UTC)
            await self.gate.wait()


async def test_pending_and_parked_are_counted_per_partition() -> None:
    pipeline = FailingKey()
    assignment = Assignment(
        pipeline,
        concurrency=8,
        flow=FlowControl(max_pending=100, max_uncommitted=100, batch_size=10),
        idle=lambda: None,
    )
    assignment.assign([TP0, TP1])
    stuck = [_record(TP0, offset, b"stuck") for offset in range(5)]
    others = [_record(TP0, offset, b"other") for offset in range(5, 8)]

    received: dict[str, int] = {}
    assignment.dispatch(
        {TP0: stuck + others, TP1: [_record(TP1, 0, b"x")]},
        lambda topic, count: received.update({topic: received.get(topic, 0) + count}),
    )
    assert sum(received.values()) == 9
    p0, p1 = assignment.partitions[TP0], assignment.partitions[TP1]
    await async_wait_until(lambda: assignment.lanes.pending == 5, timeout=5)

    assert (p0.pending, p1.pending) == (5, 0)
    assert assignment.count_parked() == 4
    assert (p0.parked, p1.parked) == (4, 0)

    pipeline.gate.set()
    assert await assignment.lanes.wait_idle(5)
    assert assignment.count_parked() == 0
    assert p0.pending == 0
    assert p0.offsets.committable == 8
