"""Rows written in committed transactions arrive at Kafka; rolled-back ones never do."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import orjson
import pytest
import sqlalchemy as sa

from cqrs_worker.outbox import EventProducer, RelaySettings
from tests.contract.brokers.harness import kafka_broker, read_kafka
from tests.integration.outbox.conftest import Database, step
from tests.support.kafka import create_topic


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_name: str) -> str:
    return await create_topic(kafka_bootstrap, topic_name, 4)


@pytest.fixture
async def relay(database: Database, kafka_bootstrap: str) -> AsyncIterator[asyncio.Event]:
    """A relay running for the test; set the event it yields to stop it."""
    producer = EventProducer(
        database.engine,
        kafka_broker(kafka_bootstrap),
        repository=database.repository,
        settings=RelaySettings(batch_size=200, idle_delay=0.01, max_idle_delay=0.1),
    )
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    yield stop
    stop.set()
    async with asyncio.timeout(30):
        await running


async def test_400_concurrent_transactions_of_3_events_arrive_exactly_once(
    database: Database, kafka_bootstrap: str, topic: str, relay: asyncio.Event
) -> None:
    orders = sa.Table(
        f"{database.table.name}_orders",
        database.metadata,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("note", sa.String(50)),
    )
    async with database.engine.begin() as conn:
        await conn.run_sync(orders.create)
    limit = asyncio.Semaphore(40)  # connections at once; all 400 run concurrently

    async def place_order(n: int) -> None:
        async with limit, database.engine.begin() as conn:
            await conn.execute(sa.insert(orders).values(id=n, note="placed"))
            for seq in range(3):
                await database.repository.add(conn, step(topic, f"order-{n}", seq))

    await asyncio.gather(*(place_order(n) for n in range(1, 401)))

    records = await read_kafka(kafka_bootstrap, topic, 1200, timeout=60)
    ids = Counter(r.headers["event_id"] for r in records)
    assert len(records) == 1200
    assert len(ids) == 1200, "no event was published twice"
    by_order: dict[str, list[int]] = {}
    for record in records:
        body = orjson.loads(record.value)
        by_order.setdefault(record.key or "", []).append(body["payload"]["seq"])
    assert all(seqs == [0, 1, 2] for seqs in by_order.values())


async def test_a_rolled_back_transaction_publishes_nothing(
    database: Database, kafka_bootstrap: str, topic: str, relay: asyncio.Event
) -> None:
    rolled_back = [step(topic, "order-1", seq) for seq in range(3)]
    async with database.engine.connect() as conn:
        transaction = await conn.begin()
        await database.repository.add_many(conn, rolled_back)
        await transaction.rollback()
    # Written after the rolled-back events, same key (so same partition): once
    # it arrived, anything the rollback had published would have arrived first.
    sentinel = step(topic, "order-1", 99)
    async with database.engine.begin() as conn:
        await database.repository.add(conn, sentinel)

    records = await read_kafka(kafka_bootstrap, topic, 1, timeout=30)
    assert [r.headers["event_id"] for r in records] == [str(sentinel.event_id)]
    assert await database.count() == 1
