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


def _pending(state: PartitionState, count: int) -> None:
    """``count`` deliveries of ``state`` queued or running, none finished."""
    _outstanding(state, count)
    state.pending = count


def _flow(max_pending: int, max_uncommitted: int = 100_000, batch_size: int = 1000) -> FlowControl:
    return FlowControl(
        max_pending=max_pending, max_uncommitted=max_uncommitted, batch_size=batch_size
    )


def test_holding_starts_at_the_bound_and_ends_at_half_of_it() -> None:
    flow = _flow(100)

    assert not flow.hold(99)
    assert flow.hold(100)
    assert flow.hold(51)
    assert not flow.hold(50)


def test_a_fetch_takes_at_most_the_room_left_under_the_bound() -> None:
    flow, consumer, states = _flow(100, batch_size=60), Consumer(), _states(2)

    assert flow.plan(consumer, states, 0) == (None, 60)
    assert flow.plan(consumer, states, 70) == (None, 30)
    assert consumer.paused == set()


def test_under_pressure_only_the_partitions_whose_work_drains_are_fetched() -> None:
    # The scenario: partition 0 holds every pending delivery (a key is being
    # retried); partition 1 must go on being fetched, up to its share (100 / 2).
    flow, consumer, (stuck, other) = _flow(100), Consumer(), _states(2)
    _pending(stuck, 100)

    assert flow.plan(consumer, [stuck, other], 100) == ([other.tp], 50)
    assert consumer.paused == set(), "selective fetching keeps the prefetch: no pause"

    _pending(other, 30)  # more than half its share: it waits for its own work to drain
    assert flow.plan(consumer, [stuck, other], 130) == (None, 0)
    other.pending = 20
    assert flow.plan(consumer, [stuck, other], 120) == ([other.tp], 30)


def test_a_stall_pauses_only_the_partitions_that_may_not_be_fetched() -> None:
    flow, consumer, (stuck, other) = _flow(100), Consumer(), _states(2)
    _pending(stuck, 100)
    _pending(other, 40)

    assert flow.plan(consumer, [stuck, other], 140) == (None, 0)
    assert consumer.paused == set(), "a short wait pauses nothing"

    flow.stalled = True
    assert flow.plan(consumer, [stuck, other], 140) == (None, 0)
    assert consumer.paused == {stuck.tp, other.tp}

    other.pending = 10  # drained: fetched again, the stuck one stays paused
    assert flow.plan(consumer, [stuck, other], 110) == ([other.tp], 40)
    assert consumer.paused == {stuck.tp}

    stuck.pending = 30  # the backlog drained to half the bound: the pressure is over
    assert flow.plan(consumer, [stuck, other], 40) == (None, 60)
    assert not flow.stalled
    assert consumer.paused == set()


def test_one_partition_alone_waits_for_the_total_to_drain() -> None:
    flow, consumer, (state,) = _flow(100), Consumer(), _states(1)
    _pending(state, 100)

    assert flow.plan(consumer, [state], 100) == (None, 0)
    state.pending = 60
    assert flow.plan(consumer, [state], 60) == (None, 0)  # above half: still held
    state.pending = 50
    assert flow.plan(consumer, [state], 50) == (None, 50)


def test_a_partition_past_the_uncommitted_bound_pauses_until_half_is_committable() -> None:
    flow, consumer, (slow, other) = _flow(10, max_uncommitted=10), Consumer(), _states(2)
    _outstanding(slow, 10)

    assert flow.plan(consumer, [slow, other], 0) == (None, 10)
    assert consumer.paused == {slow.tp}

    for offset in range(5):
        slow.offsets.finished(offset)
    assert slow.uncommitted == 5
    flow.plan(consumer, [slow, other], 0)
    assert consumer.paused == set()


def test_nothing_to_fetch_when_every_partition_is_past_the_uncommitted_bound() -> None:
    flow, consumer, states = _flow(10, max_uncommitted=10), Consumer(), _states(2)
    for state in states:
        _outstanding(state, 10)

    assert flow.plan(consumer, states, 0) == (None, 0)
    assert consumer.paused == {state.tp for state in states}


async def test_the_waiting_loop_wakes_when_the_lanes_drain() -> None:
    flow, consumer, (state,) = _flow(10), Consumer(), _states(1)
    _pending(state, 10)
    assert flow.plan(consumer, [state], 10) == (None, 0)
    waiter = asyncio.create_task(flow.wait_for_room(5))
    await asyncio.sleep(0)

    state.pending = 6
    flow.finished(state, pending=6)
    await asyncio.sleep(0)
    assert not waiter.done()
    state.pending = 5
    flow.finished(state, pending=5)

    assert await waiter is True


async def test_the_waiting_loop_wakes_when_a_partition_may_be_fetched_again() -> None:
    flow, consumer, (stuck, other) = _flow(100), Consumer(), _states(2)
    _pending(stuck, 100)
    _pending(other, 30)
    assert flow.plan(consumer, [stuck, other], 130) == (None, 0)
    waiter = asyncio.create_task(flow.wait_for_room(5))
    await asyncio.sleep(0)

    other.pending = 25
    flow.finished(other, pending=125)
    await asyncio.sleep(0)
    assert not waiter.done()
    other.pending = 24
    flow.finished(other, pending=124)

    assert await waiter is True


async def test_waiting_for_room_times_out() -> None:
    flow = _flow(10)

    assert await flow.wait_for_room(0.01) is False
    assert not flow.waiting


def test_deliveries_parked_behind_a_retried_key_do_not_hold_back_their_partition() -> None:
    # One partition, one key stuck with 150 deliveries behind it: the other keys of the
    # partition go on being fetched (within the uncommitted bound).
    flow, consumer, (state,) = _flow(100, max_uncommitted=1000), Consumer(), _states(1)
    _pending(state, 160)
    state.parked = 150

    assert flow.plan(consumer, [state], 160, parked=150) == (None, 90)


def test_past_the_uncommitted_bound_parked_deliveries_count_like_the_rest() -> None:
    flow, consumer, (state,) = _flow(100, max_uncommitted=140), Consumer(), _states(1)
    _pending(state, 100)
    state.parked = 150

    assert flow.plan(consumer, [state], 160, parked=150) == (None, 0)
    assert state.parked == 0


async def test_the_waiting_loop_counts_parked_deliveries_apart() -> None:
    flow, consumer, (state,) = _flow(100, max_uncommitted=1000), Consumer(), _states(1)
    _pending(state, 300)
    state.parked = 150
    assert flow.plan(consumer, [state], 300, parked=150) == (None, 0)  # 150 others: held
    waiter = asyncio.create_task(flow.wait_for_room(5))
    await asyncio.sleep(0)

    state.pending = 251
    flow.finished(state, pending=251)
    await asyncio.sleep(0)
    assert not waiter.done()
    state.pending = 200  # 50 others left: half the bound
    flow.finished(state, pending=200)

    assert await waiter is True
