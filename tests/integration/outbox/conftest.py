"""An outbox table of the test's own on PostgreSQL, MariaDB or SQLite.

``database`` is parametrized over the three; tests that need row locks
shared by several relays or writers (SQLite has one writer at a time and no
row locks) use ``locking_database`` instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.events import NotificationEvent
from cqrs_worker.outbox import OutboxRepository, outbox_table
from tests.support.names import unique_name


class Step(pydantic.BaseModel):
    key: str
    seq: int


class StepTaken(NotificationEvent[Step]):
    event_name: str = "StepTaken"
    topic: str = "steps"


def step(topic: str, key: str, seq: int) -> StepTaken:
    return StepTaken(topic=topic, partition_key=key, payload=Step(key=key, seq=seq))


def database_url(request: pytest.FixtureRequest, kind: str, tmp_path: Path) -> str:
    if kind == "postgres":
        return str(request.getfixturevalue("postgres_url"))
    if kind == "mariadb":
        return str(request.getfixturevalue("mysql_url"))
    return f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"


def make_engine(url: str, **options: Any) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 60}, **options)

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20, **options)


@dataclass
class Database:
    kind: str
    url: str
    engine: AsyncEngine
    metadata: sa.MetaData
    table: sa.Table
    repository: OutboxRepository

    def engine_of_its_own(self) -> AsyncEngine:
        """Another engine on the same database (what another relay process would have)."""
        return make_engine(self.url)

    async def count(self, status: str | None = None) -> int:
        t = self.table
        query = sa.select(sa.func.count()).select_from(t)
        if status is not None:
            query = query.where(t.c.status == status)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())


async def _database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    kind = request.param
    url = database_url(request, kind, tmp_path)
    engine = make_engine(url)
    metadata = sa.MetaData()
    table = outbox_table(metadata, name=unique_name("outbox").replace("-", "_")[:40])
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield Database(kind, url, engine, metadata, table, OutboxRepository(table))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


@pytest.fixture(params=["postgres", "mariadb", "sqlite"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    async for db in _database(request, tmp_path):
        yield db


@pytest.fixture(params=["postgres", "mariadb"])
async def locking_database(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    async for db in _database(request, tmp_path):
        yield db
