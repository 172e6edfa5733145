"""Batch handlers: which deliveries form a batch, order, retry, split, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from cqrs_worker import DefaultContainer, EventMap
from cqrs_worker.bootstrap import bootstrap_events
from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.errors import ConfigurationError, PermanentError
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.lanes import Lanes
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.unit.worker.sample import (
    Journal,
    OrderPlaced,
    RecordOrder,
    Shipped,
    delivery_of,
    raw_delivery,
)

FAST = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.002)


@dataclass
class Batches:
    """What the batch handler saw: each ``handle_batch`` call, each ``handle`` call, the
    events handled (in order), and the attempts per event."""

    calls: list[list[int]] = field(default_factory=list)
    singles: list[int] = field(default_factory=list)
    handled: list[int] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)
    gate: asyncio.Event | None = None
    permanent: bool = False
    started: asyncio.Event = field(default_factory=asyncio.Event)

    def fails(self, event: OrderPlaced) -> bool:
        n, fail = event.payload.n, event.payload.fail
        self.attempts[n] = self.attempts.get(n, 0) + 1
        return fail < 0 or self.attempts[n] <= fail

    def error(self, n: int) -> Exception:
        text = f"order {n} is poison"
        return PermanentError(text) if self.permanent else RuntimeError(text)


class RecordOrders:
    def __init__(self, batches: Batches) -> None:
        self.batches = batches

    async def handle(self, event: OrderPlaced) -> None:
        self.batches.singles.append(event.payload.n)
        if self.batches.fails(event):
            raise self.batches.error(event.payload.n)
        self.batches.handled.append(event.payload.n)

    async def handle_batch(self, events: list[OrderPlaced]) -> None:
        batches = self.batches
        batches.calls.append([e.payload.n for e in events])
        batches.started.set()
        if batches.gate is not None:
            await batches.gate.wait()
        failing = [e.payload.n for e in events if batches.fails(e)]
        if failing:
            raise batches.error(failing[0])
        batches.handled.extend(e.payload.n for e in events)


class Rig:
    def __init__(
        self,
        *,
        batch_max: int = 500,
        batches: Batches | None = None,
        middlewares: Sequence[object] = (),
        retry: RetryPolicy = FAST,
        concurrency: int = 4,
    ) -> None:
        self.batches = batches if batches is not None else Batches()
        self.journal = Journal()
        events = EventMap()
        events.bind(OrderPlaced, RecordOrders)
        events.bind(Shipped, RecordOrder)
        container = DefaultContainer()
        container.register_instance(Batches, self.batches)
        container.register_instance(Journal, self.journal)
        mediator = bootstrap_events(events=events, container=container, middlewares=())
        self.stats = WorkerStats()
        self.broker = InMemoryBroker()
        self.pipeline: Pipeline = build_pipeline(
            mediator=mediator,
            codec=EnvelopeCodec(EventRegistry.from_event_map(events)),
            dead_letters=InMemoryDeadLetterSink(self.broker),
            retry=retry,
            stats=self.stats,
            worker_id="w",
            middlewares=middlewares,  # type: ignore[arg-type]  # plain test middlewares
            batch_max=batch_max,
        )
        self.acked: list[int] = []
        self.order: list[int | None] = []  # every finished delivery, None for malformed
        self.lanes = Lanes(self.pipeline, self._acked, concurrency=concurrency)

    def _acked(self, delivery: Delivery) -> None:
        event: Any = delivery.event
        self.order.append(None if event is None else event.payload.n)
        if event is not None:
            self.acked.append(event.payload.n)

    async def run(self, deliveries: Sequence[Delivery]) -> None:
        await self.broker.start()
        for delivery in deliveries:  # all queued before a lane worker runs
            self.lanes.submit(delivery)
        assert await self.lanes.wait_idle(10)


def orders(*numbers: int, key: str = "k", fail: dict[int, int] | None = None) -> list[Delivery]:
    fail = fail or {}
    return [
        delivery_of(
            OrderPlaced.model_validate({"payload": {"n": n, "fail": fail.get(n, 0)}}), lane=key
        )
        for n in numbers
    ]


async def test_the_events_queued_in_a_lane_are_handled_in_one_batch_in_order() -> None:
    rig = Rig()
    await rig.run(orders(*range(6)))

    assert rig.batches.calls == [[0, 1, 2, 3, 4, 5]]
    assert rig.batches.singles == []
    assert rig.acked == [0, 1, 2, 3, 4, 5]
    assert rig.stats.handled == 6


async def test_batches_stop_at_the_maximum_size() -> None:
    rig = Rig(batch_max=4)
    await rig.run(orders(*range(10)))

    assert rig.batches.calls == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert rig.acked == list(range(10))


async def test_a_lone_message_goes_at_once_through_handle() -> None:
    rig = Rig()
    await rig.run(orders(0))

    assert rig.batches.calls == []
    assert rig.batches.singles == [0]
    assert rig.acked == [0]


async def test_an_event_of_another_type_cuts_the_run_and_keeps_its_place() -> None:
    rig = Rig()
    shipped = delivery_of(Shipped.model_validate({"payload": {"n": 2}}), lane="k")
    await rig.run([*orders(0, 1), shipped, *orders(3, 4)])

    assert rig.batches.calls == [[0, 1], [3, 4]]
    assert rig.journal.handled == [2]
    assert rig.acked == [0, 1, 2, 3, 4]


async def test_a_malformed_message_is_dead_lettered_in_its_place() -> None:
    rig = Rig()
    malformed = raw_delivery(b"not json", headers={"event_name": "OrderPlaced"}, lane="k")
    await rig.run([*orders(0, 1), malformed, *orders(3, 4)])

    assert rig.batches.calls == [[0, 1], [3, 4]]
    assert rig.stats.dead_lettered == 1
    assert [m.body for m in rig.broker.messages()] == [b"not json"]
    assert rig.order == [0, 1, None, 3, 4]


async def test_each_lane_batches_only_its_own_events() -> None:
    rig = Rig()
    a, b = orders(0, 2, 4, key="a"), orders(1, 3, 5, key="b")
    mixed = [d for pair in zip(a, b, strict=True) for d in pair]
    await rig.run(mixed)

    assert sorted(rig.batches.calls) == [[0, 2, 4], [1, 3, 5]]


async def test_a_batch_that_fails_once_is_retried_whole_and_not_split() -> None:
    rig = Rig()
    await rig.run(orders(*range(6), fail={2: 1}))

    assert rig.batches.calls == [list(range(6)), list(range(6))]
    assert sorted(rig.batches.handled) == list(range(6))
    assert rig.acked == list(range(6))
    assert rig.stats.dead_lettered == 0


async def test_a_batch_waiting_to_be_retried_lets_another_lane_run_with_one_slot() -> None:
    retry = RetryPolicy(max_attempts=2, initial_delay=0.2, max_delay=0.2, jitter=0)
    rig = Rig(retry=retry, concurrency=1)
    shipped = delivery_of(Shipped.model_validate({"payload": {"n": 9}}), lane="b")
    await rig.run([*orders(0, 1, fail={0: 1}, key="a"), shipped])

    assert rig.batches.calls == [[0, 1], [0, 1]]
    assert rig.order == [9, 0, 1], "the other lane ran while the batch waited for its retry"


async def test_a_poison_event_is_isolated_and_dead_lettered_alone() -> None:
    rig = Rig()
    await rig.run(orders(*range(8), fail={5: -1}))

    b = rig.batches
    assert b.calls == [
        list(range(8)),  # the batch
        list(range(8)),  # its retry
        [0, 1, 2, 3],  # the first half: handled
        [4, 5, 6, 7],  # the second half fails
        [4, 5],  # and is split again
        [6, 7],  # after the poison event: in order
    ]
    assert b.singles == [4, 5, 5]  # event 5 alone: every attempt of the retry policy
    assert b.handled == [0, 1, 2, 3, 4, 6, 7], "every other event handled exactly once, in order"
    assert rig.acked == list(range(8)), "acknowledged in lane order"
    dead = rig.broker.messages()
    assert len(dead) == 1
    assert b'"n":5' in dead[0].body
    assert dead[0].headers["x-dlq-reason"] == "handler-failed"
    assert "order 5 is poison" in dead[0].headers["x-dlq-exception-message"]
    assert dead[0].headers["x-dlq-attempts"] == "2"
    assert rig.stats.handled == 7
    assert rig.stats.dead_lettered == 1


async def test_a_permanent_failure_splits_without_retrying_the_batch() -> None:
    rig = Rig(batches=Batches(permanent=True))
    await rig.run(orders(0, 1, 2, 3, fail={0: -1}))

    assert rig.batches.calls == [[0, 1, 2, 3], [0, 1], [2, 3]]
    assert rig.batches.singles == [0, 1]
    assert rig.batches.handled == [1, 2, 3]
    assert rig.stats.dead_lettered == 1


async def test_cancelling_a_running_batch_acknowledges_none_of_it() -> None:
    gate = asyncio.Event()
    rig = Rig(batches=Batches(gate=gate))
    await rig.broker.start()
    for delivery in orders(0, 1, 2):
        rig.lanes.submit(delivery)
    async with asyncio.timeout(10):
        await rig.batches.started.wait()

    await rig.lanes.cancel()

    assert rig.acked == []
    assert rig.batches.handled == []
    assert rig.lanes.pending == 0


async def test_a_revoke_neither_drops_nor_acks_part_of_a_running_batch() -> None:
    # discard() must not take a running batch's later members out of the queue
    # (they finish, and are acked, in order), and finish() cancels it whole.
    gate = asyncio.Event()
    rig = Rig(batches=Batches(gate=gate))
    await rig.broker.start()
    for delivery in orders(0, 1, 2):
        rig.lanes.submit(delivery)
    async with asyncio.timeout(10):
        await rig.batches.started.wait()

    assert rig.lanes.discard(lambda d: True) == 0
    cancelled = await rig.lanes.finish(lambda d: True, timeout=0.01)

    assert cancelled == 1
    assert rig.acked == []
    assert rig.lanes.pending == 0


async def test_a_revoke_waits_for_the_whole_running_batch() -> None:
    gate = asyncio.Event()
    rig = Rig(batches=Batches(gate=gate))
    await rig.broker.start()
    for delivery in orders(0, 1, 2):
        rig.lanes.submit(delivery)
    async with asyncio.timeout(10):
        await rig.batches.started.wait()

    rig.lanes.discard(lambda d: True)
    finishing = asyncio.create_task(rig.lanes.finish(lambda d: True, timeout=10))
    await asyncio.sleep(0)  # finish() is waiting now
    assert not finishing.done()
    gate.set()

    assert await finishing == 0
    assert rig.acked == [0, 1, 2]


async def test_without_batch_handlers_the_pipeline_is_the_per_message_one() -> None:
    from tests.unit.worker.sample import mediator

    events = mediator()
    pipeline = build_pipeline(
        mediator=events,
        codec=EnvelopeCodec(EventRegistry.from_event_map(events.event_map)),
        dead_letters=InMemoryDeadLetterSink(InMemoryBroker()),
        retry=FAST,
        stats=WorkerStats(),
        worker_id="w",
        batch_max=500,
    )
    assert not hasattr(pipeline, "batch")


async def test_batch_handlers_off_with_a_maximum_of_one() -> None:
    rig = Rig(batch_max=1)
    await rig.run(orders(*range(3)))

    assert rig.batches.calls == []
    assert rig.batches.singles == [0, 1, 2]


async def test_a_middleware_without_around_batch_is_a_configuration_error() -> None:
    async def plain(message: object, call_next: Any) -> object:
        return await call_next(message)

    with pytest.raises(ConfigurationError, match="around_batch"):
        Rig(middlewares=[plain])


async def test_a_middleware_with_around_batch_wraps_each_batch_attempt() -> None:
    seen: list[list[int]] = []

    class Wrap:
        async def __call__(self, message: object, call_next: Any) -> object:
            return await call_next(message)

        async def around_batch(self, deliveries: list[Delivery], call_next: Any) -> None:
            seen.append([d.event.payload.n for d in deliveries])  # type: ignore[union-attr]  # decoded
            await call_next(deliveries)

    rig = Rig(middlewares=[Wrap()])
    await rig.run(orders(0, 1, 2))

    assert seen == [[0, 1, 2]]
