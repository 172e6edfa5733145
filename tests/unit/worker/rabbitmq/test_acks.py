"""AckTracker: a multiple ack never covers a delivery that did not finish.

The channel is a recorder of ``basic_ack`` calls; what RabbitMQ does with them
is covered by tests/integration/worker/rabbitmq.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiormq
import pytest

from cqrs_worker.worker.rabbitmq.acks import AckTracker


class AckRecorder:
    """Records the acks sent on a channel; ``fail`` makes them raise like a closed channel."""

    def __init__(self) -> None:
        self.acks: list[tuple[int, bool]] = []
        self.fail = False
        self.acked = asyncio.Event()
        self.closed = asyncio.Event()

    async def basic_ack(self, delivery_tag: int, multiple: bool = False) -> None:
        if self.fail:
            raise aiormq.ChannelInvalidStateError("closed")
        self.acks.append((delivery_tag, multiple))
        self.acked.set()

    async def close(self) -> None:
        self.closed.set()


def tracker(recorder: AckRecorder, *, batch: int = 100, interval: float = 60.0) -> AckTracker:
    return AckTracker(cast(Any, recorder), batch=batch, interval=interval)


async def test_acks_up_to_the_highest_tag_below_which_all_finished() -> None:
    recorder = AckRecorder()
    acks = tracker(recorder)
    for tag in range(1, 7):
        acks.received(tag)
    for tag in (2, 3, 5):
        acks.finished(tag)

    await acks.flush()
    assert recorder.acks == []  # 1 is unfinished

    acks.finished(1)
    await acks.flush()
    assert recorder.acks == [(3, True)]  # 4 is unfinished
    assert acks.unacked == 3

    acks.finished(4)
    acks.finished(6)
    await acks.flush()
    await acks.flush()  # nothing new: no second frame
    assert recorder.acks == [(3, True), (6, True)]
    assert acks.unacked == 0


async def test_a_full_batch_is_acked_without_waiting_for_the_timer() -> None:
    recorder = AckRecorder()
    acks = tracker(recorder, batch=3)
    runner = asyncio.create_task(acks.run())
    for tag in range(1, 5):
        acks.received(tag)
        acks.finished(tag)
    await asyncio.wait_for(recorder.acked.wait(), 1)
    runner.cancel()
    assert recorder.acks[0][0] >= 3


async def test_the_timer_acks_a_partial_batch() -> None:
    recorder = AckRecorder()
    acks = tracker(recorder, batch=100, interval=0.01)
    runner = asyncio.create_task(acks.run())
    acks.received(1)
    acks.finished(1)
    await asyncio.wait_for(recorder.acked.wait(), 1)
    runner.cancel()
    assert recorder.acks == [(1, True)]


async def test_a_closed_tracker_acks_nothing_more() -> None:
    recorder = AckRecorder()
    acks = tracker(recorder)
    acks.received(1)
    acks.received(2)
    acks.finished(1)
    acks.close()
    acks.finished(2)
    await acks.flush()
    assert recorder.acks == []


async def test_a_failed_ack_closes_the_tracker() -> None:
    recorder = AckRecorder()
    recorder.fail = True
    acks = tracker(recorder)
    acks.received(1)
    acks.finished(1)
    await acks.flush()
    assert acks.closed


async def test_a_skipped_tag_stops_the_acks_and_closes_the_channel(
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder = AckRecorder()
    acks = tracker(recorder)
    acks.received(1)
    acks.received(3)  # 2 never reached us: acking 3 "multiple" would settle it unseen
    acks.finished(1)
    acks.finished(3)
    await acks.flush()
    await asyncio.wait_for(recorder.closed.wait(), 1)
    assert recorder.acks == []
    assert "jumped from 1 to 3" in caplog.text


def test_the_batch_and_interval_must_make_sense() -> None:
    with pytest.raises(ValueError, match="batch"):
        tracker(AckRecorder(), batch=0)


async def test_deliveries_finished_behind_a_stuck_one_are_acked_one_by_one() -> None:
    # A stuck delivery must not keep the prefetch window full of finished ones.
    recorder = AckRecorder()
    acks = tracker(recorder, batch=3)
    for tag in range(1, 9):
        acks.received(tag)
    for tag in (2, 3):
        acks.finished(tag)
    await acks.flush()
    assert recorder.acks == [], "fewer than a batch behind: wait, a multiple ack may cover them"

    acks.finished(5)
    await acks.flush()
    assert recorder.acks == [(2, False), (3, False), (5, False)]
    assert acks.unacked == 5
    assert acks.behind == 0

    acks.finished(1)  # the stuck one finished: 1..3 acknowledgeable, 2 and 3 settled
    acks.finished(4)  # 1..5 acknowledgeable: the multiple ack names 4, not settled 5
    await acks.flush()
    assert recorder.acks[3:] == [(4, True)]
    assert acks.unacked == 3

    for tag in (6, 7, 8):
        acks.finished(tag)
    await acks.flush()
    assert recorder.acks[4:] == [(8, True)]
    assert acks.unacked == 0


async def test_a_multiple_ack_is_not_sent_when_every_tag_it_would_name_is_settled() -> None:
    recorder = AckRecorder()
    acks = tracker(recorder, batch=2)
    for tag in range(1, 4):
        acks.received(tag)
    acks.finished(2)
    acks.finished(3)
    await acks.flush()
    assert recorder.acks == [(2, False), (3, False)]

    acks.finished(1)
    await acks.flush()
    assert recorder.acks[2:] == [(1, True)]
    await acks.flush()
    assert acks.unacked == 0
    assert len(recorder.acks) == 3
