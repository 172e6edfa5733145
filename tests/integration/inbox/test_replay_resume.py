"""``Inbox.resume_dead_lettered`` on PostgreSQL, MariaDB and SQLite: once, even when concurrent."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker.inbox import Inbox, InboxStatus, inbox_table


async def _inbox(engine: AsyncEngine) -> tuple[Inbox, sa.MetaData]:
    metadata = sa.MetaData()
    table = inbox_table(metadata, name=f"inbox_resume_{uuid.uuid4().hex[:10]}")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return Inbox(consumer="replays", table=table), metadata


async def test_only_a_dead_lettered_record_is_resumed_and_only_once(engine: AsyncEngine) -> None:
    inbox, metadata = await _inbox(engine)
    dead, handled, unknown = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await inbox.record(conn, dead, "E", status=InboxStatus.DEAD_LETTERED)
            await inbox.record(conn, handled, "E")
        async with engine.begin() as conn:
            assert await inbox.resume_dead_lettered(conn, dead)
            assert not await inbox.resume_dead_lettered(conn, handled)
            assert not await inbox.resume_dead_lettered(conn, unknown)
        async with engine.begin() as conn:
            assert not await inbox.resume_dead_lettered(conn, dead), "resumed already"
            assert await inbox.status(conn, dead) is InboxStatus.HANDLED
        # A rolled-back resume leaves the record dead-lettered.
        other = uuid.uuid4()
        async with engine.begin() as conn:
            await inbox.record(conn, other, "E", status=InboxStatus.DEAD_LETTERED)
        async with engine.connect() as conn:
            assert await inbox.resume_dead_lettered(conn, other)
            await conn.rollback()
        async with engine.connect() as conn:
            assert await inbox.status(conn, other) is InboxStatus.DEAD_LETTERED
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)


async def test_concurrent_resumes_of_one_event_let_one_through(engine: AsyncEngine) -> None:
    inbox, metadata = await _inbox(engine)
    event_id = uuid.uuid4()
    try:
        async with engine.begin() as conn:
            await inbox.record(conn, event_id, "E", status=InboxStatus.DEAD_LETTERED)
        first_holds = asyncio.Event()

        async def resume(hold: bool) -> bool:
            async with engine.connect() as conn:
                if not hold:
                    await first_holds.wait()
                resumed = await inbox.resume_dead_lettered(conn, event_id)
                if hold:
                    first_holds.set()
                    await asyncio.sleep(0.3)  # keep the row locked while the other one tries
                await conn.commit()
                return resumed

        results = await asyncio.wait_for(asyncio.gather(resume(True), resume(False)), 60)
        assert sorted(results) == [False, True]
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
