"""``InMemorySource``: acknowledges what finished, keeps per-key order, leaves the rest unacked."""

from __future__ import annotations

import asyncio

import pytest

from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemorySource
from cqrs_worker.worker.pipeline import build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import Journal, mediator, placed


async def _source(journal: Journal, **options: object) -> tuple[InMemorySource, WorkerStats]:
    events = mediator(journal)
    broker = InMemoryBroker()
    await broker.start()
    stats = WorkerStats()
    pipeline = build_pipeline(
        mediator=events,
        codec=EnvelopeCodec(EventRegistry.from_event_map(events.event_map)),
        dead_letters=InMemoryDeadLetterSink(broker),
        retry=RetryPolicy(max_attempts=1),
        stats=stats,
        worker_id="w",
    )
    return InMemorySource(pipeline=pipeline, stats=stats, **options), stats  # type: ignore[arg-type]


async def test_messages_are_acked_once_handled_in_order_per_key() -> None:
    journal = Journal()
    source, stats = await _source(journal, concurrency=8)
    await source.start()
    runner = asyncio.create_task(source.run())
    for n in range(40):
        source.put(OutgoingMessage.from_event(placed(n, key=f"k{n % 4}")))

    acked = await source.wait_acked(40, timeout=5)
    await source.stop(timeout=1)
    await runner

    for key in range(4):
        numbers = [int(m.offset) for m in acked if m.key == f"k{key}"]
        assert numbers == sorted(numbers)
    assert sorted(journal.handled) == list(range(40))
    assert stats.received == 40
    assert source.unacked == []


async def test_stop_cancels_what_did_not_finish_and_leaves_it_unacked() -> None:
    journal = Journal(gate=asyncio.Event())
    source, _ = await _source(journal, concurrency=2)
    await source.start()
    runner = asyncio.create_task(source.run())
    for n in range(5):
        source.put(OutgoingMessage.from_event(placed(n, key="same" if n < 3 else None)))
    await async_wait_until(lambda: journal.running == 2, timeout=5)

    await source.stop(timeout=0.01)
    await runner

    assert source.acked == []
    assert sorted(m.offset for m in source.unacked) == [0, 1, 2, 3, 4]
    assert not source.ready()


async def test_only_its_topics_are_accepted() -> None:
    source, _ = await _source(Journal(), topics=("orders",))

    with pytest.raises(ValueError, match="reads"):
        source.put(OutgoingMessage("elsewhere", b"{}"))


async def test_wait_acked_says_how_many_arrived() -> None:
    source, _ = await _source(Journal())

    with pytest.raises(TimeoutError, match="0 of 1 messages were acknowledged"):
        await source.wait_acked(1, timeout=0.01)
