"""The delivery contract of ``build_pipeline``: handled, retried, dead-lettered, or cancelled."""

from __future__ import annotations

import asyncio

import pytest

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.pipeline import Pipeline, UnknownEventPolicy, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import Journal, delivery_of, mediator, placed, raw_delivery

FAST = RetryPolicy(max_attempts=3, initial_delay=0.001, max_delay=0.002)


class Rig:
    def __init__(
        self,
        *,
        retry: RetryPolicy = FAST,
        unknown: UnknownEventPolicy = "ack",
        middlewares: tuple[object, ...] = (),
        max_size: int | None = None,
    ) -> None:
        self.journal = Journal()
        self.stats = WorkerStats()
        self.broker = InMemoryBroker()
        events = mediator(self.journal)
        self.pipeline: Pipeline = build_pipeline(
            mediator=events,
            codec=EnvelopeCodec(EventRegistry.from_event_map(events.event_map), max_size=max_size),
            dead_letters=InMemoryDeadLetterSink(self.broker),
            retry=retry,
            stats=self.stats,
            worker_id="worker-7",
            on_unknown_event=unknown,
            middlewares=middlewares,  # type: ignore[arg-type]  # plain test middlewares
        )

    async def start(self) -> Rig:
        await self.broker.start()
        return self


async def test_a_good_event_is_handled_once() -> None:
    rig = await Rig().start()

    await rig.pipeline(delivery_of(placed(1)))

    assert rig.journal.handled == [1]
    assert rig.broker.messages() == []
    assert rig.stats.dead_lettered == 0


async def test_a_failing_handler_is_retried_until_it_succeeds() -> None:
    rig = await Rig().start()
    delivery = delivery_of(placed(1, fail=2))

    await rig.pipeline(delivery)

    assert rig.journal.handled == [1]
    assert rig.journal.attempts == {1: 3}
    assert rig.stats.retried == 2
    assert delivery.attempts == 3
    assert rig.broker.messages() == []


async def test_exhausted_retries_dead_letter_with_every_header() -> None:
    rig = await Rig().start()
    delivery = delivery_of(placed(1, fail=-1), offset=41)

    await rig.pipeline(delivery)

    assert rig.journal.attempts == {1: 3}
    [dead] = rig.broker.messages("orders.dlq")
    assert dead.body == delivery.body
    headers = dict(dead.headers)
    assert headers["event_name"] == "OrderPlaced"  # the original headers stay
    assert headers["x-dlq-reason"] == "handler-failed"
    assert headers["x-dlq-exception-type"] == "builtins.RuntimeError"
    assert headers["x-dlq-exception-message"] == "order 1 failed on attempt 3"
    assert headers["x-dlq-attempts"] == "3"
    assert headers["x-dlq-worker-id"] == "worker-7"
    assert headers["x-dlq-original-topic"] == "orders"
    assert headers["x-dlq-original-offset"] == "41"
    assert headers["x-dlq-first-failure-at"] <= headers["x-dlq-last-failure-at"]
    assert rig.stats.dead_lettered == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"\xff\xfe not utf-8", "not-json"),
        (b"{not json", "not-json"),
        (b"[1, 2]", "not-an-envelope"),
        (b'{"event_name": "OrderPlaced"}', "not-an-envelope"),
        (
            b'{"event_name": "OrderPlaced", "event_id": "00000000-0000-0000-0000-000000000001",'
            b' "event_timestamp": "2026-01-01T00:00:00Z", "topic": "orders",'
            b' "payload": {"n": "not a number"}}',
            "invalid-payload",
        ),
    ],
)
async def test_malformed_messages_are_dead_lettered_at_once(body: bytes, reason: str) -> None:
    rig = await Rig().start()

    await rig.pipeline(raw_delivery(body, headers={"event_name": "OrderPlaced"}))

    [dead] = rig.broker.messages("orders.dlq")
    assert dead.headers["x-dlq-reason"] == reason
    assert dead.headers["x-dlq-attempts"] == "0"
    assert rig.journal.attempts == {}
    assert rig.stats.retried == 0


async def test_an_oversized_body_is_dead_lettered_unread() -> None:
    rig = await Rig(max_size=64).start()

    await rig.pipeline(delivery_of(placed(1)))

    [dead] = rig.broker.messages("orders.dlq")
    assert dead.headers["x-dlq-reason"] == "too-large"
    assert rig.journal.attempts == {}


async def test_an_unknown_event_is_acked_and_counted_by_default() -> None:
    rig = await Rig().start()

    await rig.pipeline(_unknown())

    assert rig.stats.unknown == 1
    assert rig.broker.messages() == []


async def test_an_unknown_event_can_be_dead_lettered() -> None:
    rig = await Rig(unknown="dead-letter").start()

    await rig.pipeline(_unknown())

    [dead] = rig.broker.messages("orders.dlq")
    assert dead.headers["x-dlq-reason"] == "unknown-event"


async def test_the_event_name_header_wins_over_the_body() -> None:
    rig = await Rig().start()
    delivery = delivery_of(placed(1))
    delivery.event_name = "Shipped"  # same payload shape, another class

    await rig.pipeline(delivery)

    assert type(delivery.event).__name__ == "Shipped"


async def test_middlewares_run_around_each_attempt() -> None:
    seen: list[int] = []

    async def count(delivery: object, call_next: object) -> None:
        seen.append(getattr(delivery, "attempts", 0))
        await call_next(delivery)  # type: ignore[operator]  # a CallNext

    rig = await Rig(middlewares=(count,)).start()

    await rig.pipeline(delivery_of(placed(1, fail=1)))

    assert seen == [1, 2]


async def test_cancellation_propagates_and_nothing_is_dead_lettered() -> None:
    rig = await Rig().start()
    rig.journal.gate = asyncio.Event()
    task = asyncio.create_task(rig.pipeline(delivery_of(placed(1))))
    await async_wait_until(lambda: rig.journal.running == 1, timeout=5)

    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert rig.journal.handled == []
    assert rig.broker.messages() == []


async def test_a_failing_dead_letter_publish_is_retried_until_it_is_confirmed() -> None:
    rig = await Rig(retry=RetryPolicy(max_attempts=1)).start()
    rig.broker.reachable = False
    task = asyncio.create_task(rig.pipeline(delivery_of(placed(1, fail=-1))))
    await async_wait_until(lambda: rig.journal.attempts.get(1) == 1, timeout=5)
    await asyncio.sleep(0)
    assert not task.done()  # the delivery is not finished (not acked) while the sink fails

    rig.broker.reachable = True
    await asyncio.wait_for(task, 5)

    assert len(rig.broker.messages("orders.dlq")) == 1


def _unknown() -> Delivery:
    return raw_delivery(
        b'{"event_name": "Nobody", "event_id": "00000000-0000-0000-0000-000000000001",'
        b' "event_timestamp": "2026-01-01T00:00:00Z", "topic": "orders", "payload": {}}',
        headers={"event_name": "Nobody"},
    )
