"""The claim's order check, step by step, against rows another relay holds (PostgreSQL, MariaDB)."""

from __future__ import annotations

import datetime

import pytest
import sqlalchemy as sa

from cqrs_worker.outbox.claim import ClaimQueries
from cqrs_worker.outbox.foreign import first_foreign_rows
from cqrs_worker.outbox.locking import row_locking
from tests.integration.outbox.conftest import Database, step


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _ids(db: Database) -> list[int]:
    t = db.table
    async with db.engine.connect() as conn:
        return list((await conn.execute(sa.select(t.c.id).order_by(t.c.id))).scalars())


async def _write(db: Database, keys: list[str]) -> list[int]:
    async with db.engine.begin() as conn:
        await db.repository.add_many(conn, [step("t", key, n) for n, key in enumerate(keys)])
    return await _ids(db)


def _queries(db: Database, *, block_key_on_failure: bool = True) -> ClaimQueries:
    return ClaimQueries(
        db.table,
        locking=row_locking(db.engine.dialect),
        block_key_on_failure=block_key_on_failure,
        dialect=db.engine.dialect.name,
    )


async def test_rows_behind_a_row_another_relay_holds_are_left_alone(
    locking_database: Database,
) -> None:
    db = locking_database
    a1, a2, b1, a3, b2 = await _write(db, ["a", "a", "b", "a", "b"])
    queries = _queries(db)
    other = db.engine_of_its_own()
    try:
        async with other.connect() as held, held.begin():
            t = db.table
            await held.execute(sa.select(t.c.id).where(t.c.id == a1).with_for_update())
            async with db.engine.connect() as conn, conn.begin():
                rows = await queries.claim(conn, now=_now(), limit=10)
                assert [r.id for r in rows] == [b1, b2]
            async with db.engine.connect() as conn, conn.begin():
                # Rows of our own earlier batch (in flight) do not hold their key back.
                rows = await queries.claim(conn, now=_now(), limit=10, in_flight={a1})
                assert [r.id for r in rows] == [a2, b1, a3, b2]
    finally:
        await other.dispose()


async def test_a_row_that_failed_meanwhile_holds_its_key_back(locking_database: Database) -> None:
    db = locking_database
    a1, a2, b1 = await _write(db, ["a", "a", "b"])
    t = db.table
    queries = _queries(db)
    other = db.engine_of_its_own()
    try:
        async with other.connect() as held:
            await held.begin()
            await held.execute(sa.select(t.c.id).where(t.c.id == a1).with_for_update())
            async with db.engine.connect() as conn, conn.begin():
                rows = await queries.claim(conn, now=_now(), limit=10)
                assert [r.id for r in rows] == [b1]
            await held.execute(sa.update(t).where(t.c.id == a1).values(status="failed"))
            await held.commit()
        async with db.engine.connect() as conn, conn.begin():
            rows = await queries.claim(conn, now=_now(), limit=10)
            assert [r.id for r in rows] == [b1]
        async with db.engine.connect() as conn, conn.begin():
            rows = await _queries(db, block_key_on_failure=False).claim(conn, now=_now(), limit=10)
            assert [r.id for r in rows] == [a2, b1]
    finally:
        await other.dispose()


async def test_the_postgresql_check_finds_the_first_foreign_row_per_key(
    locking_database: Database,
) -> None:
    db = locking_database
    if db.kind != "postgres":
        pytest.skip("the per-key lookup query is PostgreSQL's")
    a1, b1, a2, c1, b2, a3 = await _write(db, ["a", "b", "a", "c", "b", "a"])
    t = db.table
    async with db.engine.begin() as conn:
        await conn.execute(sa.update(t).where(t.c.id == b1).values(status="failed"))
        await conn.execute(sa.update(t).where(t.c.id == c1).values(status="published"))

    async def first(*, known: set[int], block: bool) -> dict[str, int]:
        query = first_foreign_rows(t, ["a", "b", "c"], a3, known, block_key_on_failure=block)
        found: dict[str, int] = {}
        async with db.engine.connect() as conn:
            for key, id_ in await conn.execute(query):
                found[key] = min(id_, found.get(key, id_))
        return found

    assert await first(known={a1, a2, b2, a3}, block=True) == {"b": b1}
    assert await first(known={a1, a2, b2, a3}, block=False) == {}
    assert await first(known={a2, a3}, block=True) == {"a": a1, "b": b1}
    assert await first(known={a3}, block=False) == {"a": a1, "b": b2}
