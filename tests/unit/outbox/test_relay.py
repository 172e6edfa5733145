from __future__ import annotations

import asyncio
import datetime
from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker.brokers import InMemoryBroker
from cqrs_worker.envelope import encode_event, event_headers
from cqrs_worker.events import WireEvent
from cqrs_worker.outbox import EventProducer, OutboxRepository, PayloadEncoding
from tests.support.waiting import async_wait_until
from tests.unit.outbox.conftest import fast_settings, moved


async def _write(
    engine: AsyncEngine, repository: OutboxRepository, events: Iterable[object]
) -> None:
    async with engine.begin() as conn:
        await repository.add_many(conn, events)  # type: ignore[arg-type]  # events of the tests


async def _statuses(engine: AsyncEngine, table: sa.Table) -> list[tuple[int, str, int]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(table.c.payload, table.c.status, table.c.attempts).order_by(table.c.id)
        )
        return [(i, status, attempts) for i, (_, status, attempts) in enumerate(rows)]


async def _drain_until(producer: EventProducer, broker: InMemoryBroker, count: int) -> None:
    """Drain again and again (retries fall due) until ``count`` messages were published."""
    async with asyncio.timeout(5):
        while broker.published_count() < count:
            await producer.drain()
            await asyncio.sleep(0.02)


def _seqs(broker: InMemoryBroker, key: str | None = None) -> list[int]:
    import orjson

    return [
        orjson.loads(m.body)["payload"]["seq"]
        for m in broker.messages()
        if key is None or m.key == key
    ]


async def test_drain_publishes_the_stored_bytes_in_id_order(
    engine: AsyncEngine,
    repository: OutboxRepository,
    broker: InMemoryBroker,
    producer: EventProducer,
) -> None:
    events: list[WireEvent[object]] = [moved(i, key=f"k{i % 3}") for i in range(10)]
    events.append(moved(10, key=None, topic="other"))
    await _write(engine, repository, events)
    async with producer:
        assert await producer.drain() == 11
        assert await producer.drain() == 0
    messages = broker.messages()
    assert [m.body for m in messages] == [encode_event(e) for e in events]
    assert [dict(m.headers) for m in messages] == [event_headers(e) for e in events]
    assert [(m.destination, m.key) for m in messages] == [
        (e.topic, e.partition_key) for e in events
    ]


async def test_compressed_rows_are_published_as_the_plain_envelope(
    engine: AsyncEngine, table: sa.Table, broker: InMemoryBroker, producer: EventProducer
) -> None:
    plain, packed = moved(1), moved(2)
    await _write(engine, OutboxRepository(table), [plain])
    await _write(engine, OutboxRepository(table, compression=PayloadEncoding.ZLIB), [packed])
    async with producer:
        await producer.drain()
    assert [m.body for m in broker.messages()] == [encode_event(plain), encode_event(packed)]


async def test_an_unreachable_broker_leaves_rows_pending_until_it_is_back(
    engine: AsyncEngine,
    table: sa.Table,
    repository: OutboxRepository,
    broker: InMemoryBroker,
    producer: EventProducer,
) -> None:
    await _write(engine, repository, [moved(i) for i in range(5)])
    async with producer:
        broker.reachable = False
        assert await producer.drain() == 0
        assert {(s, a) for _, s, a in await _statuses(engine, table)} == {("pending", 1)}
        async with engine.connect() as conn:
            errors = set((await conn.execute(sa.select(table.c.last_error))).scalars())
        assert len(errors) == 1
        assert "unreachable" in str(errors.pop())
        broker.reachable = True
        assert await producer.drain() == 0  # the retry is not due yet
        await _drain_until(producer, broker, 5)
    assert _seqs(broker) == [0, 1, 2, 3, 4]


async def test_after_max_attempts_a_row_is_failed_and_holds_back_its_key(
    engine: AsyncEngine,
    table: sa.Table,
    repository: OutboxRepository,
    broker: InMemoryBroker,
) -> None:
    producer = EventProducer(
        engine, broker, repository=repository, settings=fast_settings(max_attempts=1)
    )
    await _write(engine, repository, [moved(1, key="a")])
    async with producer:
        broker.reachable = False
        await producer.drain()
        broker.reachable = True
        await _write(engine, repository, [moved(2, key="a"), moved(3, key="b")])
        assert await producer.drain() == 1
        assert _seqs(broker) == [3]  # key "a" waits behind its failed row
        async with engine.begin() as conn:
            (failed,) = await repository.failed(conn)
            assert failed.attempts == 1
            assert failed.last_error is not None
            assert "unreachable" in failed.last_error
            assert await repository.requeue(conn, [failed.event_id]) == 1
        assert await producer.drain() == 2
    assert _seqs(broker, key="a") == [1, 2]


async def test_failed_rows_can_be_left_behind_when_order_matters_less(
    engine: AsyncEngine, repository: OutboxRepository, broker: InMemoryBroker
) -> None:
    producer = EventProducer(
        engine,
        broker,
        repository=repository,
        settings=fast_settings(max_attempts=1, block_key_on_failure=False),
    )
    await _write(engine, repository, [moved(1, key="a")])
    async with producer:
        broker.reachable = False
        await producer.drain()
        broker.reachable = True
        await _write(engine, repository, [moved(2, key="a")])
        assert await producer.drain() == 1
    assert _seqs(broker) == [2]


async def test_a_row_waiting_for_its_retry_holds_back_only_its_key(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository, broker: InMemoryBroker
) -> None:
    producer = EventProducer(
        engine,
        broker,
        repository=repository,
        settings=fast_settings(retry_delay=60.0, max_retry_delay=60.0),
    )
    await _write(engine, repository, [moved(1, key="a")])
    async with producer:
        broker.reachable = False
        await producer.drain()
        broker.reachable = True
        await _write(engine, repository, [moved(2, key="a"), moved(3, key="b"), moved(4, key=None)])
        assert await producer.drain() == 2
        assert _seqs(broker) == [3, 4]
        async with engine.begin() as conn:  # the retry falls due
            await conn.execute(
                sa.update(table)
                .where(table.c.next_attempt_at.is_not(None))
                .values(next_attempt_at=datetime.datetime.now(datetime.UTC))
            )
        assert await producer.drain() == 2
    assert _seqs(broker, key="a") == [1, 2]


async def test_an_unreadable_row_fails_alone_and_holds_back_its_key(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository, broker: InMemoryBroker
) -> None:
    producer = EventProducer(
        engine, broker, repository=repository, settings=fast_settings(max_attempts=1)
    )
    bad = moved(1, key="a")
    await _write(engine, repository, [bad, moved(2, key="a"), moved(3, key="b")])
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(table)
            .where(table.c.event_id == bad.event_id)
            .values(payload=b"not zlib", payload_encoding="zlib")
        )
    async with producer:
        assert await producer.drain() == 1
        async with engine.connect() as conn:
            (failed,) = await repository.failed(conn)
    assert _seqs(broker) == [3]
    assert failed.event_id == bad.event_id
    assert failed.last_error is not None
    assert "unreadable outbox row" in failed.last_error


async def test_run_publishes_rows_as_they_commit_and_stops_on_request(
    engine: AsyncEngine,
    repository: OutboxRepository,
    broker: InMemoryBroker,
    producer: EventProducer,
) -> None:
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    for seq in range(3):
        await _write(engine, repository, [moved(seq)])
        await broker.wait_for(seq + 1)
    stop.set()
    async with asyncio.timeout(5):
        await running
    assert _seqs(broker) == [0, 1, 2]
    assert not broker._started  # closed by run()


async def test_an_idle_relay_sleeps_instead_of_polling_hard(
    engine: AsyncEngine, repository: OutboxRepository, broker: InMemoryBroker
) -> None:
    producer = EventProducer(
        engine,
        broker,
        repository=repository,
        settings=fast_settings(idle_delay=0.05, max_idle_delay=0.2, concurrency=1),
    )
    queries: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: queries.append(a[2]))
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    await async_wait_until(lambda: len(queries) > 0, timeout=5)
    loop = asyncio.get_running_loop()
    started, seen = loop.time(), len(queries)
    await async_wait_until(lambda: loop.time() - started >= 1.0, timeout=2, interval=0.05)
    claims = len([q for q in queries[seen:] if q.lstrip().startswith("SELECT")])
    stop.set()
    await running
    # 1 s at pauses of 0.05, 0.1, 0.2, 0.2, ... is about 6 claims; a busy loop does thousands.
    assert claims <= 12


async def test_the_relay_starts_once_the_broker_is_reachable(
    engine: AsyncEngine,
    repository: OutboxRepository,
    broker: InMemoryBroker,
    producer: EventProducer,
) -> None:
    broker.reachable = False
    await _write(engine, repository, [moved(1)])
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    await asyncio.sleep(0)
    broker.reachable = True
    await broker.wait_for(1)
    stop.set()
    await running


async def test_published_rows_past_retention_are_purged(
    engine: AsyncEngine, table: sa.Table, repository: OutboxRepository, broker: InMemoryBroker
) -> None:
    producer = EventProducer(
        engine,
        broker,
        repository=repository,
        settings=fast_settings(retention=datetime.timedelta(hours=1), retention_interval=0.05),
    )
    await _write(engine, repository, [moved(1), moved(2)])
    async with producer:
        await producer.drain()
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(table).values(
                published_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
            )
        )
    await _write(engine, repository, [moved(3)])
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    await broker.wait_for(3)

    async def remaining() -> int:
        async with engine.connect() as conn:
            return int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            )

    deadline = asyncio.get_running_loop().time() + 5
    while await remaining() != 1:
        assert asyncio.get_running_loop().time() < deadline, "old published rows were not purged"
        await asyncio.sleep(0.02)
    stop.set()
    await running
