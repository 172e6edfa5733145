"""The pipeline with delayed retry stages: move to the next stage, or dead-letter after the last."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
from collections.abc import Mapping

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.errors import PublishError
from cqrs_worker.worker.delayed_retry import DelayedRetrier
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.pipeline import Pipeline, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.retry_stages import DUE_AT, RetryStage, stages_of
from cqrs_worker.worker.stats import WorkerStats
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import Journal, delivery_of, mediator, placed

FAST = RetryPolicy(max_attempts=2, initial_delay=0.001, max_delay=0.002)


class StageLog:
    """A retry-stage sink that keeps what it was given (headers live in the in-memory message)."""

    def __init__(self) -> None:
        self.sent: list[tuple[RetryStage, dict[str, str]]] = []
        self.failures = 0

    def carried(self, delivery: Delivery, /) -> Mapping[str, str]:
        headers: Mapping[str, str] = delivery.raw.headers
        return {k: v for k, v in headers.items() if k.startswith("x-retry-")}

    async def send(
        self, delivery: Delivery, stage: RetryStage, headers: Mapping[str, str], /
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise PublishError("not now")
        self.sent.append((stage, dict(headers)))


class Rig:
    def __init__(self, delays: tuple[float, ...] = (1.0, 2.0), retry: RetryPolicy = FAST) -> None:
        self.journal = Journal()
        self.stats = WorkerStats()
        self.broker = InMemoryBroker()
        self.stages = StageLog()
        events = mediator(self.journal)
        self.pipeline: Pipeline = build_pipeline(
            mediator=events,
            codec=EnvelopeCodec(EventRegistry.from_event_map(events.event_map)),
            dead_letters=InMemoryDeadLetterSink(self.broker),
            retry=retry,
            stats=self.stats,
            worker_id="worker-7",
            delayed=DelayedRetrier(
                self.stages, stages_of(delays), stats=self.stats, publish_retry_delay=0.001
            ),
        )


def at_stage(delivery: Delivery, headers: Mapping[str, str]) -> Delivery:
    """``delivery`` as it comes back from a retry stage, carrying ``headers``."""
    delivery.raw = dataclasses.replace(delivery.raw, headers={**delivery.raw.headers, **headers})
    delivery.attempts = 0
    delivery.first_failure_at = delivery.last_failure_at = None
    return delivery


async def test_exhausted_in_place_attempts_move_the_delivery_to_stage_one() -> None:
    rig = Rig()
    await rig.broker.start()
    before = datetime.datetime.now(datetime.UTC)

    await rig.pipeline(delivery_of(placed(1, fail=-1)))

    assert rig.journal.attempts == {1: 2}
    [(stage, headers)] = rig.stages.sent
    assert stage.number == 1
    assert headers["x-retry-stage"] == "1"
    assert headers["x-retry-attempts"] == "2"
    due = datetime.datetime.fromisoformat(headers[DUE_AT])
    assert before + datetime.timedelta(seconds=1) <= due
    assert due <= datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=1)
    assert rig.broker.messages() == []  # not dead-lettered
    assert rig.stats.moved == 1
    assert rig.stats.dead_lettered == 0
    assert rig.stats.delays == {("orders", "OrderPlaced", "1"): 1}


async def test_a_delivery_back_from_stage_one_goes_to_stage_two_counting_every_attempt() -> None:
    rig = Rig()
    await rig.broker.start()
    delivery = delivery_of(placed(1, fail=-1))
    await rig.pipeline(delivery)
    first = rig.stages.sent[0][1]

    await rig.pipeline(at_stage(delivery, first))

    stage, headers = rig.stages.sent[1]
    assert stage.number == 2
    assert headers["x-retry-attempts"] == "4"
    assert headers["x-retry-first-failure-at"] == first["x-retry-first-failure-at"]


async def test_after_the_last_stage_it_is_dead_lettered_with_the_stages_tried() -> None:
    rig = Rig()
    await rig.broker.start()
    delivery = delivery_of(placed(1, fail=-1))
    await rig.pipeline(delivery)
    await rig.pipeline(at_stage(delivery, rig.stages.sent[0][1]))

    await rig.pipeline(at_stage(delivery, rig.stages.sent[1][1]))

    assert len(rig.stages.sent) == 2
    [dead] = rig.broker.messages("orders.dlq")
    assert dead.headers["x-dlq-retry-stages"] == "1s,2s"
    assert dead.headers["x-dlq-attempts"] == "6"
    assert (
        dead.headers["x-dlq-first-failure-at"] == rig.stages.sent[0][1]["x-retry-first-failure-at"]
    )
    assert rig.journal.attempts == {1: 6}
    assert rig.stats.moved == 2
    assert rig.stats.dead_lettered == 1


async def test_a_permanent_failure_is_dead_lettered_without_stages() -> None:
    rig = Rig(retry=RetryPolicy(max_attempts=2, permanent=(RuntimeError,)))
    await rig.broker.start()

    await rig.pipeline(delivery_of(placed(1, fail=-1)))

    assert rig.journal.attempts == {1: 1}
    assert rig.stages.sent == []
    [dead] = rig.broker.messages("orders.dlq")
    assert "x-dlq-retry-stages" not in dead.headers
    assert rig.stats.dead_lettered == 1


async def test_success_on_a_stage_is_handled_and_nothing_moves() -> None:
    rig = Rig()
    await rig.broker.start()
    delivery = delivery_of(placed(1, fail=2))
    await rig.pipeline(delivery)

    await rig.pipeline(at_stage(delivery, rig.stages.sent[0][1]))

    assert rig.journal.handled == [1]
    assert len(rig.stages.sent) == 1
    assert rig.stats.handled == 1


async def test_a_failing_stage_publish_is_retried_and_the_delivery_stays_unfinished() -> None:
    rig = Rig()
    await rig.broker.start()
    rig.stages.failures = 1_000
    delivery = delivery_of(placed(1, fail=-1))
    task = asyncio.ensure_future(rig.pipeline(delivery))
    await async_wait_until(lambda: rig.stages.failures < 1_000 - 3, timeout=5)
    assert not task.done()  # not finished (not acked) while the stage does not confirm

    rig.stages.failures = 0
    await asyncio.wait_for(task, 10)

    assert len(rig.stages.sent) == 1
    assert rig.stats.moved == 1
