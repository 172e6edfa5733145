"""``Assignment``: per-partition pending counts and the deliveries parked behind a retried key."""

from __future__ import annotations

import asyncio
import datetime
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.kafka.assignment import Assignment
from cqrs_worker.worker.kafka.flow import FlowControl
from cqrs_worker.worker.ordering import LaneChooser, Ordering
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


class Gated:
    """A pipeline where offset ``stuck`` waits on ``gate``; counts the most running at once."""

    def __init__(self, stuck: int) -> None:
        self.stuck = stuck
        self.gate = asyncio.Event()
        self.running = 0
        self.most = 0

    async def __call__(self, delivery: Delivery) -> None:
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(0)  # every delivery suspends, as a real handler does
            if delivery.raw.offset == self.stuck:
                await self.gate.wait()
        finally:
            self.running -= 1


def _keyless(tp: TopicPartition, offset: int) -> Any:
    record = _record(tp, offset, b"")
    record.key = None
    return record


async def test_unordered_commits_no_offset_past_a_stuck_one() -> None:
    pipeline = Gated(stuck=3)
    assignment = Assignment(
        pipeline,
        concurrency=8,
        flow=FlowControl(max_pending=100, max_uncommitted=100, batch_size=10),
        idle=lambda: None,
        lanes=LaneChooser(mode="unordered"),
    )
    assignment.assign([TP0])
    assignment.dispatch({TP0: [_keyless(TP0, offset) for offset in range(10)]}, lambda *_: None)
    state = assignment.partitions[TP0]
    # Everything but the stuck one finishes, concurrently.
    await async_wait_until(lambda: assignment.lanes.pending == 1, timeout=5)
    assert pipeline.most > 1
    assert state.offsets.committable == 3  # the stuck offset is the next to read
    assert state.to_commit() == 3

    pipeline.gate.set()
    assert await assignment.lanes.wait_idle(5)
    assert state.offsets.committable == 10


@pytest.mark.parametrize(("mode", "concurrent"), [("key", False), ("unordered", True)])
async def test_keyless_records_run_concurrently_only_when_unordered(
    mode: Ordering, concurrent: bool
) -> None:
    pipeline = Gated(stuck=-1)
    assignment = Assignment(
        pipeline,
        concurrency=8,
        flow=FlowControl(max_pending=100, max_uncommitted=100, batch_size=10),
        idle=lambda: None,
        lanes=LaneChooser(mode=mode),
    )
    assignment.assign([TP0])
    assignment.dispatch({TP0: [_keyless(TP0, offset) for offset in range(20)]}, lambda *_: None)
    assert await assignment.lanes.wait_idle(5)
    assert (pipeline.most > 1) is concurrent
    assert pipeline.most <= 8
    assert assignment.partitions[TP0].offsets.committable == 20
