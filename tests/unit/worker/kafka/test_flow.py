"""``FlowControl``: when the fetch loop waits, which partitions pause, when it wakes."""

from __future__ import annotations

import asyncio
from typing import Any

from aiokafka import TopicPartition

from cqrs_worker.worker.kafka.flow import FlowControl
from cqrs_worker.worker.kafka.partition import PartitionState


class Consumer:
    """Records what the flow control asked the consumer to pause and resume."""

    def __init__(self) -> None:
        self.paused: set[Any] = set()

    def pause(self, *partitions: Any) -> None:
        self.paused.update(partitions)

    def resume(self, *partitions: Any) -> None:
        self.paused.difference_update(partitions)


def _states(count: int) -> list[PartitionState]:
    return [PartitionState(TopicPartition("t", p)) for p in range(count)]


def _outstanding(state: PartitionState, count: int) -> None:
    for offset in range(count):
        state.offsets.fetched(offset)


def test_holding_starts_at_the_bound_and_ends_at_half_of_it() -> None:
    flow = FlowControl(max_pending=100, max_uncommitted=1000)

    assert not flow.hold(99)
    assert flow.hold(100)
    assert flow.hold(51)
    assert not flow.hold(50)


def test_a_short_hold_pauses_nothing_a_stall_pauses_everything() -> None:
    flow, consumer, states = (
        FlowControl(max_pending=10, max_uncommitted=1000),
        Consumer(),
        _states(3),
    )

    assert flow.hold(10)
    assert not flow.update(consumer, states)
    assert consumer.paused == set()

    flow.stalled = True
    assert flow.update(consumer, states)
    assert consumer.paused == {state.tp for state in states}

    assert not flow.hold(5)  # drained: the stall is over
    assert not flow.update(consumer, states)
    assert consumer.paused == set()


def test_a_partition_past_the_uncommitted_bound_pauses_until_half_is_committable() -> None:
    flow, consumer, (slow, other) = (
        FlowControl(max_pending=10, max_uncommitted=10),
        Consumer(),
        _states(2),
    )
    _outstanding(slow, 10)

    assert not flow.update(consumer, [slow, other])
    assert consumer.paused == {slow.tp}

    for offset in range(5):
        slow.offsets.finished(offset)
    assert slow.uncommitted == 5
    flow.update(consumer, [slow, other])
    assert consumer.paused == set()


async def test_the_waiting_loop_wakes_when_the_lanes_drain() -> None:
    flow, (state,) = FlowControl(max_pending=10, max_uncommitted=100), _states(1)
    flow.hold(10)
    waiter = asyncio.create_task(flow.wait_for_room(5))
    await asyncio.sleep(0)

    flow.finished(state, pending=6)
    await asyncio.sleep(0)
    assert not waiter.done()
    flow.finished(state, pending=5)

    assert await waiter is True


async def test_waiting_for_room_times_out() -> None:
    flow = FlowControl(max_pending=10, max_uncommitted=100)

    assert await flow.wait_for_room(0.01) is False
    assert not flow.waiting
