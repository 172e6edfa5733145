"""``PartitionState``: what to commit, and nothing twice."""

from __future__ import annotations

from aiokafka import TopicPartition

from cqrs_worker.worker.kafka.partition import PartitionState


def test_nothing_to_commit_until_the_first_message_finished() -> None:
    state = PartitionState(TopicPartition("t", 0))
    state.offsets.fetched(7)

    assert state.to_commit() is None


def test_the_position_after_the_finished_prefix_is_committed_once() -> None:
    state = PartitionState(TopicPartition("t", 0))
    for offset in (7, 8, 9):
        state.offsets.fetched(offset)
    state.offsets.finished(7)
    state.offsets.finished(9)

    assert state.to_commit() == 8
    state.committed = 8
    assert state.to_commit() is None
    assert state.uncommitted == 2

    state.offsets.finished(8)
    assert state.to_commit() == 10


def test_lag_is_the_end_minus_the_committed_position_or_where_fetching_began() -> None:
    state = PartitionState(TopicPartition("orders", 0))

    assert state.lag(None) is None  # no fetch answered yet: no end known
    assert state.lag(40) == 0  # fetched nothing although the fetch reached the end
    state.start = 30  # the group's committed position when this assignment began
    assert state.lag(40) == 10
    state.committed = 38
    assert state.lag(40) == 2
    state.committed = 40
    assert state.lag(40) == 0
