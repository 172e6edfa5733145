"""Attempt observation: the first attempt observed inline (no middlewares) counts exactly
what the wrapped attempt does (with middlewares): every attempt's duration, in flight
while it runs, nothing left in flight after success, failure or cancellation."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.middleware import CallNext
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.unit.worker.sample import Journal, delivery_of, mediator, placed

FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002)


class PassThrough:
    async def __call__(self, message: Any, call_next: CallNext) -> Any:
        return await call_next(message)


async def rig(*, wrapped: bool, journal: Journal) -> tuple[Pipeline, WorkerStats]:
    broker = InMemoryBroker()
    await broker.start()
    stats = WorkerStats()
    events = mediator(journal)
    pipeline = build_pipeline(
        mediator=events,
        codec=EnvelopeCodec(EventRegistry.from_event_map(events.event_map)),
        dead_letters=InMemoryDeadLetterSink(broker),
        retry=FAST,
        stats=stats,
        worker_id="w",
        middlewares=[PassThrough()] if wrapped else (),  # type: ignore[list-item]  # a test middleware
    )
    return pipeline, stats


def durations(stats: WorkerStats) -> dict[str, int]:
    """Attempts counted per event name (the histogram's buckets summed)."""
    return {name: int(sum(counts[:-1])) for name, counts in stats.durations.counts.items()}


@pytest.mark.parametrize("wrapped", [False, True], ids=["inline", "wrapped"])
async def test_every_attempt_is_timed_and_leaves_the_in_flight_set(wrapped: bool) -> None:
    pipeline, stats = await rig(wrapped=wrapped, journal=Journal())
    await pipeline(delivery_of(placed(1)))  # 1 attempt
    await pipeline(delivery_of(placed(2, fail=2)))  # 3 attempts, handled
    await pipeline(delivery_of(placed(3, fail=-1)))  # 3 attempts, dead-lettered
    assert durations(stats) == {"OrderPlaced": 7}
    assert len(stats.in_flight) == 0
    assert (stats.handled, stats.dead_lettered) == (2, 1)


@pytest.mark.parametrize("wrapped", [False, True], ids=["inline", "wrapped"])
async def test_an_attempt_is_in_flight_while_it_runs_and_not_after_cancellation(
    wrapped: bool,
) -> None:
    journal = Journal()
    journal.gate = asyncio.Event()
    pipeline, stats = await rig(wrapped=wrapped, journal=journal)
    delivery = delivery_of(placed(1))
    task = asyncio.create_task(pipeline(delivery))
    while not journal.running:  # noqa: ASYNC110 - the handler sets it as it starts
        await asyncio.sleep(0)
    assert list(stats.in_flight.running) == [delivery]
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(stats.in_flight) == 0
    assert durations(stats) == {"OrderPlaced": 1}  # a cancelled attempt is timed too
