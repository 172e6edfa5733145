from __future__ import annotations

import datetime
import uuid
import zlib

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from cqrs_worker.envelope import encode_event, event_headers
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.events import DomainEvent
from cqrs_worker.outbox import OutboxRepository, OutboxStatus, PayloadEncoding
from tests.unit.outbox.conftest import moved


async def _rows(engine: AsyncEngine, table: sa.Table) -> list[sa.Row[tuple[object, ...]]]:
    async with engine.connect() as conn:
        return list(await conn.execute(sa.select(table).order_by(table.c.id)))


async def test_add_writes_in_the_callers_transaction_and_never_commits(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository
) -> None:
    async with AsyncSession(engine) as session:
        await repository.add(session, moved(1))
        assert await _rows(engine, table) == []  # not visible before the caller commits
        await session.commit()
    rows = await _rows(engine, table)
    assert len(rows) == 1


async def test_a_rolled_back_transaction_leaves_no_row(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository
) -> None:
    async with AsyncSession(engine) as session:
        await repository.add(session, moved(1))
        await session.rollback()
    assert await _rows(engine, table) == []


async def test_the_row_holds_the_envelope_bytes_headers_and_routing(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository
) -> None:
    event = moved(7, key="order-1")
    async with engine.begin() as conn:
        await repository.add(conn, event)
    (row,) = await _rows(engine, table)
    assert row.payload == encode_event(event)
    assert orjson.loads(row.headers) == event_headers(event)
    assert (row.event_id, row.event_name, row.topic, row.partition_key) == (
        event.event_id,
        "ItemMoved",
        "items",
        "order-1",
    )
    assert (row.status, row.attempts, row.payload_encoding) == ("pending", 0, "identity")
    assert row.created_at.tzinfo is not None


async def test_zlib_compression_is_recorded_per_row(engine: AsyncEngine, table: sa.Table) -> None:
    event = moved(1)
    async with engine.begin() as conn:
        await OutboxRepository(table, compression=PayloadEncoding.ZLIB).add(conn, event)
    (row,) = await _rows(engine, table)
    assert row.payload_encoding == "zlib"
    assert zlib.decompress(row.payload) == encode_event(event)


async def test_adding_one_event_twice_fails_in_the_callers_transaction(
    engine: AsyncEngine, repository: OutboxRepository
) -> None:
    event = moved(1)
    async with engine.connect() as conn:
        await repository.add(conn, event)
        with pytest.raises(IntegrityError):
            await repository.add(conn, event)


async def test_only_broker_events_are_accepted(
    engine: AsyncEngine, repository: OutboxRepository
) -> None:
    async with engine.connect() as conn:
        with pytest.raises(ConfigurationError, match="only broker events"):
            await repository.add(conn, DomainEvent())  # type: ignore[arg-type]  # the mistake under test


async def test_add_many_inserts_in_order(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository
) -> None:
    events = [moved(i) for i in range(5)]
    async with engine.begin() as conn:
        await repository.add_many(conn, events)
        await repository.add_many(conn, [])
    assert [r.event_id for r in await _rows(engine, table)] == [e.event_id for e in events]


async def test_failed_rows_are_listed_and_requeued(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository
) -> None:
    events = [moved(i, key=None) for i in range(3)]
    async with engine.begin() as conn:
        await repository.add_many(conn, events)
        await conn.execute(
            sa.update(table)
            .where(table.c.event_id != events[2].event_id)
            .values(status="failed", attempts=5, last_error="boom")
        )
    async with engine.begin() as conn:
        failed = await repository.failed(conn)
        assert [(r.event_id, r.last_error, r.status) for r in failed] == [
            (events[0].event_id, "boom", OutboxStatus.FAILED),
            (events[1].event_id, "boom", OutboxStatus.FAILED),
        ]
        assert (await repository.stats(conn)).failed == 2
        assert await repository.requeue(conn, [events[0].event_id, uuid.uuid4()]) == 1
        assert await repository.requeue(conn, []) == 0
        assert await repository.requeue_failed(conn) == 1
        pending = await repository.pending(conn)
    assert [r.attempts for r in pending] == [0, 0, 0]
    assert [r.last_error for r in pending] == ["boom", "boom", None]  # kept for the record


async def test_stats_count_waiting_and_failed_rows(
    engine: AsyncEngine, repository: OutboxRepository
) -> None:
    async with engine.begin() as conn:
        empty = await repository.stats(conn)
        await repository.add_many(conn, [moved(1), moved(2)])
        stats = await repository.stats(conn)
    assert (empty.pending, empty.failed, empty.oldest_pending_at) == (0, 0, None)
    assert (stats.pending, stats.failed) == (2, 0)
    assert stats.oldest_pending_at is not None


async def test_purge_deletes_only_rows_older_than_the_cut_off(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository
) -> None:
    now = datetime.datetime.now(datetime.UTC)
    events = [moved(i) for i in range(4)]
    async with engine.begin() as conn:
        await repository.add_many(conn, events)
        for event, age_days in zip(events, (10, 9, 1, None), strict=True):
            values: dict[str, object] = {"status": "published"}
            if age_days is not None:
                values["published_at"] = now - datetime.timedelta(days=age_days)
            else:
                values["status"] = "pending"
            await conn.execute(
                sa.update(table).where(table.c.event_id == event.event_id).values(values)
            )
    async with engine.begin() as conn:
        cut_off = now - datetime.timedelta(days=7)
        assert await repository.purge(conn, before=cut_off, limit=1) == 1
        assert await repository.purge(conn, before=cut_off) == 1
        assert await repository.purge(conn, before=cut_off) == 0
        later = now + datetime.timedelta(minutes=1)
        assert await repository.purge(conn, before=later, status=OutboxStatus.PENDING) == 1
    assert [r.event_id for r in await _rows(engine, table)] == [events[2].event_id]
