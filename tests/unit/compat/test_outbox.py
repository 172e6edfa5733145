"""python-cqrs's outbox shapes, and our own classes refusing them with what to write instead."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

import cqrs_worker
from cqrs_worker import events
from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.compressors import zlib
from cqrs_worker.outbox import EventProducer, OutboxRepository, PayloadEncoding, outbox_table


def test_our_repository_refuses_a_session_factory(tmp_path: Path) -> None:
    sessions = async_sessionmaker(create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/o.db"))

    with pytest.raises(TypeError, match=r"is cqrs_worker\.SqlAlchemyOutboxedEventRepository"):
        OutboxRepository(sessions)  # type: ignore[arg-type]  # python-cqrs's call, under test


def test_our_relay_refuses_a_repository(tmp_path: Path) -> None:
    sessions = async_sessionmaker(create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/o.db"))
    repository = cqrs_worker.SqlAlchemyOutboxedEventRepository(sessions)

    with pytest.raises(
        TypeError, match=r"takes an AsyncEngine first.*is cqrs_worker\.EventProducer"
    ):
        EventProducer(repository, InMemoryBroker())  # type: ignore[arg-type]  # under test


def test_the_python_cqrs_repository_refuses_a_table() -> None:
    with pytest.raises(TypeError, match=r"takes an async_sessionmaker.*OutboxRepository\(table\)"):
        cqrs_worker.SqlAlchemyOutboxedEventRepository(outbox_table(sa.MetaData()))  # type: ignore[arg-type]  # under test


async def test_the_python_cqrs_relay_runs_on_the_repository_engine(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/o.db")
    repository = cqrs_worker.SqlAlchemyOutboxedEventRepository(
        async_sessionmaker(engine), zlib.ZlibCompressor()
    )
    broker = InMemoryBroker()
    try:
        async with engine.begin() as conn:
            await conn.run_sync(repository.outbox.table.metadata.create_all)
        async with repository as session:
            repository.add(session, events.ECSTEvent(event_name="Closed", payload={"id": 1}))
            await repository.commit(session)

        producer = cqrs_worker.EventProducer(repository, broker)
        async with producer:
            assert await producer.drain() == 1

        assert isinstance(producer, EventProducer)
        assert producer.engine is engine
        assert repository.outbox.compression is PayloadEncoding.ZLIB
        [message] = broker.messages()
        assert message.destination == "output_topic"
    finally:
        await engine.dispose()


async def test_add_refuses_what_is_not_a_broker_event(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path}/o.db")
    repository = cqrs_worker.SqlAlchemyOutboxedEventRepository(async_sessionmaker(engine))
    try:
        async with repository as session:
            with pytest.raises(TypeError, match="only NotificationEvent/ECSTEvent"):
                repository.add(session, events.DomainEvent())  # type: ignore[arg-type]  # under test
    finally:
        await engine.dispose()
