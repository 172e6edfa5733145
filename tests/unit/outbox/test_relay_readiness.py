"""A running relay reports to its observer and keeps its readiness (SQLite, in-memory broker)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.outbox import EventProducer, OutboxRepository
from tests.support.waiting import async_wait_until
from tests.unit.outbox.conftest import moved


@dataclass
class Recorder:
    claims: list[int] = field(default_factory=list)
    published_rows: int = 0
    failed: list[tuple[int, bool]] = field(default_factory=list)

    def claimed(self, rows: int, seconds: float) -> None:
        self.claims.append(rows)

    def published(self, rows: int, seconds: float) -> None:
        self.published_rows += rows

    def publish_failed(self, rows: int, seconds: float | None) -> None:
        self.failed.append((rows, seconds is not None))


class Raising(Recorder):
    def claimed(self, rows: int, seconds: float) -> None:
        raise RuntimeError("a broken metrics backend")


async def _add(engine: AsyncEngine, repository: OutboxRepository, seqs: range) -> None:
    async with engine.begin() as conn:
        await repository.add_many(conn, [moved(n, key=f"k{n % 3}") for n in seqs])


async def test_readiness_follows_the_broker_and_the_observer_sees_every_row(
    engine: AsyncEngine,
    repository: OutboxRepository,
    broker: InMemoryBroker,
    producer: EventProducer,
) -> None:
    recorder = Recorder()
    producer.observer = recorder
    assert producer.readiness.check() is not None  # nothing reached yet
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    try:
        await _add(engine, repository, range(10))
        await async_wait_until(lambda: broker.published_count() == 10, timeout=10)
        await async_wait_until(lambda: producer.readiness.check() is None, timeout=10)
        broker.reachable = False
        await _add(engine, repository, range(10, 15))
        await async_wait_until(lambda: not producer.readiness.is_up("broker"), timeout=10)
        assert "broker (" in (producer.readiness.check() or "")
        assert producer.readiness.is_up("database")
        broker.reachable = True
        await async_wait_until(lambda: broker.published_count() == 15, timeout=10)
        await async_wait_until(lambda: producer.readiness.check() is None, timeout=10)
    finally:
        stop.set()
        await running
    assert producer.readiness.check() == "not ready: relay stopping"
    assert recorder.published_rows == 15
    assert recorder.failed
    assert all(rows == 5 and called for rows, called in recorder.failed)
    assert sum(recorder.claims) >= 15


async def test_a_lost_table_is_a_database_outage_not_the_end(
    engine: AsyncEngine,
    table: sa.Table,
    repository: OutboxRepository,
    broker: InMemoryBroker,
    producer: EventProducer,
) -> None:
    producer.observer = Raising()  # an observer that raises changes nothing
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    try:
        await _add(engine, repository, range(5))
        await async_wait_until(lambda: broker.published_count() == 5, timeout=10)
        async with engine.begin() as conn:
            await conn.run_sync(table.drop)
        await async_wait_until(lambda: not producer.readiness.is_up("database"), timeout=10)
        assert not running.done()
        async with engine.begin() as conn:
            await conn.run_sync(table.create)
        await _add(engine, repository, range(5, 8))
        await async_wait_until(lambda: broker.published_count() == 8, timeout=10)
        await async_wait_until(lambda: producer.readiness.check() is None, timeout=10)
    finally:
        stop.set()
        await running
