"""SQLite-backed fixtures for the outbox unit tests (a file per test, no network)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pydantic
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.events import NotificationEvent
from cqrs_worker.outbox import (
    EventProducer,
    OutboxRepository,
    RelaySettings,
    outbox_table,
)


class Moved(pydantic.BaseModel):
    seq: int


class ItemMoved(NotificationEvent[Moved]):
    event_name: str = "ItemMoved"
    topic: str = "items"


def moved(seq: int, key: str | None = "k", *, topic: str = "items") -> ItemMoved:
    return ItemMoved(payload=Moved(seq=seq), partition_key=key, topic=topic)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def table(engine: AsyncEngine) -> sa.Table:
    metadata = sa.MetaData()
    table = outbox_table(metadata, name="test_outbox")
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return table


@pytest.fixture
def repository(table: sa.Table) -> OutboxRepository:
    return OutboxRepository(table)


@pytest.fixture
async def broker() -> AsyncIterator[InMemoryBroker]:
    broker = InMemoryBroker(maxlen=100_000)
    yield broker
    await broker.close()


def fast_settings(**changes: object) -> RelaySettings:
    """Settings for tests: short pauses, no waiting for retention."""
    values: dict[str, object] = {
        "retry_delay": 0.05,
        "max_retry_delay": 0.2,
        "idle_delay": 0.01,
        "max_idle_delay": 0.05,
        "retention": None,
    }
    values.update(changes)
    return RelaySettings.model_validate(values)


@pytest.fixture
def producer(
    engine: AsyncEngine, broker: InMemoryBroker, repository: OutboxRepository
) -> EventProducer:
    return EventProducer(engine, broker, repository=repository, settings=fast_settings())
