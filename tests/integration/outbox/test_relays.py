"""Several relays at once, and writers committing out of id order (PostgreSQL, MariaDB).

SQLite is left out on purpose: it has no row locks (one relay per database
is the supported set-up) and hands out ids under its single write lock, so
its commits cannot come out of id order.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Sequence

import orjson
import pytest
import sqlalchemy as sa

from cqrs_worker.outbox import EventProducer, RelaySettings
from tests.contract.brokers.harness import kafka_broker, read_kafka
from tests.integration.outbox.conftest import Database, step
from tests.support.kafka import create_topic

SETTINGS = RelaySettings(batch_size=100, concurrency=2, idle_delay=0.01, max_idle_delay=0.05)


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_name: str) -> str:
    return await create_topic(kafka_bootstrap, topic_name, 4)


async def _relays(database: Database, kafka_bootstrap: str, count: int) -> list[EventProducer]:
    return [
        EventProducer(
            database.engine_of_its_own(),
            kafka_broker(kafka_bootstrap),
            repository=database.repository,
            settings=SETTINGS,
        )
        for _ in range(count)
    ]


async def _until_all_published(database: Database, total: int, timeout: float) -> None:
    published = 0

    async def check() -> None:
        nonlocal published
        published = await database.count("published")

    deadline = asyncio.get_running_loop().time() + timeout
    while published < total:
        assert asyncio.get_running_loop().time() < deadline, f"{published} of {total} published"
        await check()
        await asyncio.sleep(0.05)


async def _until_published(db: Database, event_id: uuid.UUID) -> None:
    t = db.table
    query = sa.select(t.c.status).where(t.c.event_id == event_id)
    async with asyncio.timeout(10):
        while True:
            async with db.engine.connect() as conn:
                if (await conn.execute(query)).scalar_one() == "published":
                    return
            await asyncio.sleep(0.01)


async def _stop(
    producers: Sequence[EventProducer], stop: asyncio.Event, tasks: list[asyncio.Task[None]]
) -> None:
    stop.set()
    async with asyncio.timeout(30):
        await asyncio.gather(*tasks)
    for producer in producers:
        await producer.engine.dispose()


async def test_three_relays_publish_each_row_once_in_per_key_order(
    locking_database: Database, kafka_bootstrap: str, topic: str
) -> None:
    db = locking_database
    events = [step(topic, f"key-{n % 30}", n // 30) for n in range(3000)]
    async with db.engine.begin() as conn:  # half before the relays start...
        await db.repository.add_many(conn, events[:1500])
    producers = await _relays(db, kafka_bootstrap, 3)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(p.run(stop)) for p in producers]
    for start in range(1500, 3000, 100):  # ...half while they run
        async with db.engine.begin() as conn:
            await db.repository.add_many(conn, events[start : start + 100])
    try:
        await _until_all_published(db, 3000, timeout=60)
    finally:
        await _stop(producers, stop, tasks)

    records = await read_kafka(kafka_bootstrap, topic, 3000, timeout=30)
    assert len(records) == 3000
    duplicates = [i for i, n in Counter(r.headers["event_id"] for r in records).items() if n > 1]
    assert duplicates == []
    by_key: dict[str, list[int]] = {}
    for record in records:
        by_key.setdefault(record.key or "", []).append(orjson.loads(record.value)["payload"]["seq"])
    assert len(by_key) == 30
    assert all(seqs == list(range(100)) for seqs in by_key.values()), "per-key order broken"


async def test_rows_committed_out_of_id_order_are_never_skipped(
    locking_database: Database, kafka_bootstrap: str, topic: str
) -> None:
    """2 writers x 10,000 rows; in each round the writer with the lower ids commits last."""
    db = locking_database
    (producer,) = await _relays(db, kafka_bootstrap, 1)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(producer.run(stop))]
    written: list[str] = []
    rounds, per_round = 100, 100

    async def round_(n: int) -> None:
        first = [step(topic, f"w1-{n % 7}", i) for i in range(per_round)]
        second = [step(topic, f"w2-{n % 7}", i) for i in range(per_round)]
        async with db.engine.connect() as early, db.engine.connect() as late:
            early_tx = await early.begin()
            await db.repository.add_many(early, first)  # lower ids...
            late_tx = await late.begin()
            await db.repository.add_many(late, second)  # ...higher ids
            await late_tx.commit()  # the higher ids become visible first...
            await _until_published(db, second[-1].event_id)  # ...and are published
            await early_tx.commit()
        written.extend(str(e.event_id) for e in first + second)

    try:
        for n in range(rounds):
            await round_(n)
        await _until_all_published(db, 2 * rounds * per_round, timeout=90)
    finally:
        await _stop([producer], stop, tasks)

    records = await read_kafka(kafka_bootstrap, topic, len(written), timeout=60)
    assert set(r.headers["event_id"] for r in records) == set(written)
