"""HANDLER_TIMEOUT: a hung attempt is cancelled and retried with reason ``timeout``; a
shutdown cancellation stays a cancellation."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import pytest

from cqrs_worker import DefaultContainer, EventMap, EventMediator
from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.errors import DispatchError, HandlerTimeoutError
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from cqrs_worker.worker.timeout import HandlerTimeouts
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import OrderPlaced, Shipped, delivery_of, placed


class Hangs:
    """Hangs on its first ``hang`` attempts (never returns by itself), then succeeds."""

    hang = 1
    attempts: ClassVar[list[int]] = []
    cancelled: ClassVar[list[int]] = []

    async def handle(self, event: OrderPlaced) -> None:
        Hangs.attempts.append(event.payload.n)
        if len(Hangs.attempts) <= Hangs.hang:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                Hangs.cancelled.append(event.payload.n)
                raise


class Quick:
    handler_timeout = 30.0

    async def handle(self, event: OrderPlaced | Shipped) -> None:
        pass


class Unlimited:
    handler_timeout = None

    async def handle(self, event: Shipped) -> None:
        pass


@pytest.fixture(autouse=True)
def _reset() -> None:
    Hangs.hang = 1
    Hangs.attempts = []
    Hangs.cancelled = []


async def pipeline(stats: WorkerStats, *, timeout: float | None, max_attempts: int = 3) -> Pipeline:
    broker = InMemoryBroker()
    await broker.start()
    events = EventMap()
    events.bind(OrderPlaced, Hangs)
    mediator = EventMediator(events, DefaultContainer())
    return build_pipeline(
        mediator=mediator,
        codec=EnvelopeCodec(EventRegistry.from_event_map(events)),
        dead_letters=InMemoryDeadLetterSink(broker),
        retry=RetryPolicy(max_attempts=max_attempts, initial_delay=0.001, max_delay=0.001),
        stats=stats,
        worker_id="w",
        handler_timeout=timeout,
    )


async def test_a_hung_attempt_is_cancelled_and_retried_with_reason_timeout() -> None:
    stats = WorkerStats()

    await (await pipeline(stats, timeout=0.05))(delivery_of(placed(1)))

    assert Hangs.attempts == [1, 1]
    assert Hangs.cancelled == [1]
    assert stats.handled == 1
    assert stats.retries == {("orders", "OrderPlaced", "timeout"): 1}


async def test_attempts_that_always_hang_are_dead_lettered_in_the_end() -> None:
    Hangs.hang = 99
    stats = WorkerStats()

    await (await pipeline(stats, timeout=0.02, max_attempts=2))(delivery_of(placed(1)))

    assert stats.retries == {("orders", "OrderPlaced", "timeout"): 1}
    assert stats.dead_letters == {("orders", "OrderPlaced", "handler-failed"): 1}
    assert stats.outcomes == {("orders", "OrderPlaced", "dead_lettered"): 1}


async def test_cancelling_a_limited_attempt_from_outside_stays_a_cancellation() -> None:
    Hangs.hang = 99
    stats = WorkerStats()
    task = asyncio.create_task((await pipeline(stats, timeout=60))(delivery_of(placed(1))))
    await async_wait_until(lambda: len(stats.in_flight) == 1, timeout=5)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert stats.retried == 0
    assert stats.outcomes == {}


async def test_without_a_limit_no_attempt_is_timed() -> None:
    Hangs.hang = 99
    stats = WorkerStats()
    task = asyncio.create_task((await pipeline(stats, timeout=None))(delivery_of(placed(1))))
    await async_wait_until(lambda: len(stats.in_flight) == 1, timeout=5)

    assert not HandlerTimeouts(EventMap(), None).enabled
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_a_handler_class_overrides_the_setting_and_several_handlers_add_up() -> None:
    events = EventMap()
    events.bind(OrderPlaced, Quick)
    events.bind(Shipped, Quick)
    events.bind(Shipped, Hangs)

    timeouts = HandlerTimeouts(events, 5.0)

    assert timeouts.limit(OrderPlaced) == 30.0
    assert timeouts.limit(Shipped) == 35.0
    assert HandlerTimeouts(events, None).limit(Shipped) is None  # Hangs has no limit
    assert HandlerTimeouts(events, None).enabled  # Quick carries its own


def test_a_handler_may_turn_the_limit_off() -> None:
    events = EventMap()
    events.bind(Shipped, Unlimited)

    assert HandlerTimeouts(events, 5.0).limit(Shipped) is None


def test_the_error_is_a_timeout_and_names_the_setting() -> None:
    error = HandlerTimeoutError("OrderPlaced", 2.5)

    assert isinstance(error, TimeoutError)
    assert isinstance(error, DispatchError)
    assert "2.5s" in str(error)
    assert "CQRS_WORKER_HANDLER_TIMEOUT" in str(error)
