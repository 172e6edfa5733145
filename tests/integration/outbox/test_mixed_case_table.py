"""A mixed-case table name on PostgreSQL: ``create_all`` makes its trigger; inserts fire it."""

from __future__ import annotations

import asyncio
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.outbox import OutboxRepository, outbox_table
from tests.integration.outbox.conftest import step


async def test_create_all_quotes_the_trigger_target_and_an_insert_notifies(
    postgres_url: str,
) -> None:
    name = f"OpsOutbox{uuid.uuid4().hex[:12]}"
    metadata = sa.MetaData()
    repository = OutboxRepository(outbox_table(metadata, name=name))
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        async with engine.connect() as listener:
            raw = await listener.get_raw_connection()
            heard = asyncio.Event()
            driver = raw.driver_connection
            assert driver is not None
            await driver.add_listener(name, lambda *_: heard.set())
            async with engine.begin() as conn:
                await repository.add(conn, step("t", "k", 1))
            await asyncio.wait_for(heard.wait(), timeout=30)
            triggers = await listener.execute(
                sa.text("SELECT tgname FROM pg_trigger WHERE tgname = :name"),
                {"name": f"{name}_notify"},
            )
            assert triggers.scalars().all() == [f"{name}_notify"]
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
