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
