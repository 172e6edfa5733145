"""``DueGate``: a retry-topic partition is cut at its first record not yet due and held back."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition

from cqrs_worker.worker.kafka.due import DueGate
from cqrs_worker.worker.kafka.partition import PartitionState

NOW = 1_800_000_000.0
RETRY = TopicPartition("orders.retry.5s", 0)
OTHER_RETRY = TopicPartition("orders.retry.5s", 1)
MAIN = TopicPartition("orders", 0)


@dataclass
class Record:
    offset: int
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def due_in(offset: int, seconds: float) -> Record:
    due = datetime.datetime.fromtimestamp(NOW + seconds, datetime.UTC).isoformat()
    return Record(offset, [("x-retry-due-at", due.encode())])


class Consumer:
    """Records seeks, pauses and resumes."""

    def __init__(self) -> None:
        self.paused: set[Any] = set()
        self.seeks: list[tuple[Any, int]] = []

    def seek(self, tp: Any, offset: int) -> None:
        self.seeks.append((tp, offset))

    def pause(self, *tps: Any) -> None:
        self.paused.update(tps)

    def resume(self, *tps: Any) -> None:
        self.paused.difference_update(tps)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def test_records_due_pass_and_the_partition_is_held_from_the_first_not_due() -> None:
    consumer, gate = Consumer(), DueGate(["orders.retry.5s"], clock=Clock())
    due, later, last = due_in(10, -1), due_in(11, 3), due_in(12, 4)
    main = [Record(5), Record(6)]

    admitted = gate.admit(
        consumer, {RETRY: [due, later, last], OTHER_RETRY: [due_in(3, -2)], MAIN: main}
    )

    assert admitted == {RETRY: [due], OTHER_RETRY: [admitted[OTHER_RETRY][0]], MAIN: main}
    assert consumer.seeks == [(RETRY, 11)]
    assert consumer.paused == {RETRY}
    assert gate.held == 1


def test_a_partition_whose_first_record_is_not_due_is_left_out_entirely() -> None:
    consumer, gate = Consumer(), DueGate(["orders.retry.5s"], clock=Clock())

    assert gate.admit(consumer, {RETRY: [due_in(0, 5)]}) == {}
    assert consumer.seeks == [(RETRY, 0)]


def test_main_topics_and_records_without_a_due_time_are_never_held() -> None:
    consumer, gate = Consumer(), DueGate(["orders.retry.5s"], clock=Clock())
    batch = {MAIN: [due_in(0, 60)], RETRY: [Record(1), Record(2, [("x-retry-due-at", b"?")])]}

    assert gate.admit(consumer, batch) is batch
    assert consumer.paused == set()


def test_a_held_partition_resumes_once_due_and_says_when_the_next_is() -> None:
    clock = Clock()
    consumer, gate = Consumer(), DueGate(["orders.retry.5s"], clock=clock)
    gate.admit(consumer, {RETRY: [due_in(0, 3)], OTHER_RETRY: [due_in(0, 5)]})
    states = {RETRY: PartitionState(RETRY), OTHER_RETRY: PartitionState(OTHER_RETRY)}

    assert gate.release(consumer, states) == 3.0
    clock.now = NOW + 3

    assert gate.release(consumer, states) == 2.0
    assert consumer.paused == {OTHER_RETRY}
    clock.now = NOW + 5
    assert gate.release(consumer, states) is None
    assert consumer.paused == set()


def test_a_partition_paused_by_flow_control_is_left_to_it() -> None:
    clock = Clock()
    consumer, gate = Consumer(), DueGate(["orders.retry.5s"], clock=clock)
    gate.admit(consumer, {RETRY: [due_in(0, 1)]})
    state = PartitionState(RETRY)
    state.paused = True
    clock.now = NOW + 2

    assert gate.release(consumer, {RETRY: state}) is None
    assert consumer.paused == {RETRY}
