"""``PartitionOffsets``: the committable position never passes an unfinished message."""

from __future__ import annotations

import random

from cqrs_worker.worker.offsets import PartitionOffsets


def _fetched(*offsets: int) -> PartitionOffsets:
    tracker = PartitionOffsets()
    for offset in offsets:
        tracker.fetched(offset)
    return tracker


def test_nothing_is_committable_before_anything_finished() -> None:
    tracker = _fetched(10, 11, 12)

    assert tracker.committable is None
    assert tracker.unfinished == 3


def test_in_order_completion_advances_one_by_one() -> None:
    tracker = _fetched(10, 11, 12)

    tracker.finished(10)
    assert tracker.committable == 11
    tracker.finished(11)
    assert tracker.committable == 12


def test_a_later_message_finishing_first_does_not_move_the_position() -> None:
    tracker = _fetched(10, 11, 12)

    tracker.finished(12)
    tracker.finished(11)
    assert tracker.committable is None  # 10 is still running

    tracker.finished(10)
    assert tracker.committable == 13
    assert tracker.unfinished == 0


def test_gaps_in_offsets_are_fine() -> None:
    tracker = _fetched(3, 7, 20)  # compacted topic or transaction markers

    tracker.finished(7)
    tracker.finished(3)
    assert tracker.committable == 8


def test_random_completion_order_never_commits_past_unfinished_work() -> None:
    rng = random.Random(7)
    offsets = list(range(1000))
    tracker = _fetched(*offsets)
    order = offsets[:]
    rng.shuffle(order)
    done: set[int] = set()

    for offset in order:
        tracker.finished(offset)
        done.add(offset)
        if tracker.committable is not None:
            assert tracker.committable == min(set(offsets) - done, default=1000)

    assert tracker.committable == 1000


def test_a_fetched_batch_with_gaps_counts_like_offsets_fetched_one_by_one() -> None:
    tracker = PartitionOffsets()
    tracker.fetched_all([10, 11, 14])  # 12 and 13 compacted away

    tracker.finished(14)
    tracker.finished(10)
    assert tracker.committable == 11
    assert tracker.unfinished == 1
    tracker.finished(11)
    assert tracker.committable == 15
