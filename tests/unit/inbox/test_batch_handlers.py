"""Batch handlers through the unit of work on SQLite: one transaction per batch attempt."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cqrs_worker import DefaultContainer, EventMap, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events
from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry
from cqrs_worker.inbox import Inbox, UnitOfWork, UnitOfWorkSettings, inbox_table
from cqrs_worker.worker.lanes import Lanes
from cqrs_worker.worker.memory import InMemoryDeadLetterSink
from cqrs_worker.worker.pipeline import build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats
from tests.unit.worker.sample import raw_delivery


class Item(pydantic.BaseModel):
    n: int
    poison: bool = False


class ItemAdded(NotificationEvent[Item]):
    event_name: str = "ItemAdded"
    topic: str = "items"


metadata = sa.MetaData()
items = sa.Table("batch_items", metadata, sa.Column("n", sa.Integer, primary_key=True))
inbox = inbox_table(metadata, name="batch_inbox")


@dataclass
class Seen:
    sessions: list[int] = field(default_factory=list)
    calls: list[list[int]] = field(default_factory=list)


class AddItems:
    def __init__(self, session: AsyncSession, seen: Seen) -> None:
        self.session = session
        self.seen = seen

    async def handle(self, event: ItemAdded) -> None:
        await self.handle_batch([event])

    async def handle_batch(self, events: list[ItemAdded]) -> None:
        self.seen.sessions.append(id(self.session))
        self.seen.calls.append([e.payload.n for e in events])
        # Every row is written before the poison raises: a failed batch must roll them back
        # (a second insert of a row would also break the primary key).
        await self.session.execute(sa.insert(items), [{"n": e.payload.n} for e in events])
        if any(e.payload.poison for e in events):
            raise RuntimeError("poison")


@dataclass
class Rig:
    engine: AsyncEngine
    seen: Seen
    stats: WorkerStats
    lanes: Lanes
    dead: InMemoryBroker

    async def run(self, events: Sequence[ItemAdded]) -> None:
        for event in events:
            message = OutgoingMessage.from_event(event)
            self.lanes.submit(
                raw_delivery(message.body, topic="items", headers=message.headers, lane="k")
            )
        assert await self.lanes.wait_idle(30)

    async def count(self, table: sa.Table) -> int:
        async with self.engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            )


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    container = DefaultContainer()
    seen = Seen()
    container.register_instance(Seen, seen)
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="batch", table=inbox),
        settings=UnitOfWorkSettings(),
    )
    events = EventMap()
    events.bind(ItemAdded, AddItems)
    mediator = bootstrap_events(events=events, container=container, emitter=unit_of_work.emitter)
    stats = WorkerStats()
    dead = InMemoryBroker()
    await dead.start()
    pipeline = build_pipeline(
        mediator=mediator,
        codec=EnvelopeCodec(EventRegistry.from_event_map(events)),
        dead_letters=InMemoryDeadLetterSink(dead),
        retry=RetryPolicy(max_attempts=2, initial_delay=0.0, max_delay=0.0),
        stats=stats,
        worker_id="w",
        middlewares=[unit_of_work],
        batch_max=100,
    )
    lanes = Lanes(pipeline, lambda _: None, concurrency=2)
    try:
        yield Rig(engine, seen, stats, lanes, dead)
    finally:
        await engine.dispose()


def added(*numbers: int, poison: int | None = None) -> list[ItemAdded]:
    return [ItemAdded(payload=Item(n=n, poison=n == poison)) for n in numbers]


async def test_a_batch_is_one_transaction(rig: Rig) -> None:
    await rig.run(added(*range(10)))

    assert rig.seen.calls == [list(range(10))]
    assert await rig.count(items) == 10
    assert await rig.count(inbox) == 10
    assert rig.stats.handled == 10


async def test_a_failing_batch_rolls_back_all_of_its_rows(rig: Rig) -> None:
    await rig.run(added(*range(8), poison=5))

    assert rig.seen.calls[:2] == [list(range(8)), list(range(8))]
    async with rig.engine.connect() as conn:
        rows = sorted((await conn.execute(sa.select(items.c.n))).scalars())
    assert rows == [0, 1, 2, 3, 4, 6, 7], "each good row once; nothing of a failed attempt"
    assert await rig.count(inbox) == 8, "the poison event is recorded as dead-lettered"
    assert rig.stats.handled == 7
    assert rig.stats.dead_lettered == 1
    assert len(rig.dead.messages()) == 1


async def test_events_recorded_before_are_duplicates_and_skip_the_handler(rig: Rig) -> None:
    events = added(*range(8))
    await rig.run(events[:4])
    await rig.run(events)  # a redelivery after a crash: the first four again

    assert rig.seen.calls == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert rig.stats.duplicates == 4
    assert rig.stats.handled == 8
    assert await rig.count(items) == 8


async def test_a_copy_within_one_batch_runs_once(rig: Rig) -> None:
    event = added(1)[0]
    await rig.run([event, *added(2), event])

    assert rig.seen.calls == [[1, 2]]
    assert rig.stats.duplicates == 1
