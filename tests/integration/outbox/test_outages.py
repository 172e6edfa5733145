"""The broker goes away mid-run: rows stay pending, then all are published once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa

from cqrs_worker.brokers import AMQPMessageBroker, KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.outbox import EventProducer, RelaySettings
from tests.contract.brokers.harness import AMQPHarness, kafka_grants_producer_ids, read_kafka
from tests.integration.outbox.conftest import Database, step
from tests.support.kafka import create_topic
from tests.support.proxy import ProxiedTansu, TcpProxy

SETTINGS = RelaySettings(
    batch_size=100,
    retry_delay=0.2,
    max_retry_delay=0.5,
    idle_delay=0.01,
    max_idle_delay=0.05,
)


async def _attempted(db: Database) -> int:
    """Rows that are still pending after at least one failed publish."""
    t = db.table
    async with db.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(t.c.status == "pending", t.c.attempts > 0)
        return int((await conn.execute(query)).scalar_one())


async def _wait_for(probe: Callable[[], Awaitable[bool]], what: str, timeout: float) -> None:
    """Poll the database (it has no event to wait on) until ``probe`` holds."""
    try:
        async with asyncio.timeout(timeout):
            while True:
                if await probe():
                    return
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise TimeoutError(f"no {what} within {timeout}s") from None


async def _outage(
    db: Database,
    broker: MessageBroker,
    topic: str,
    cut: Callable[[], None],
    restore: Callable[[], None],
) -> list[str]:
    producer = EventProducer(db.engine, broker, repository=db.repository, settings=SETTINGS)
    stop = asyncio.Event()
    running = asyncio.create_task(producer.run(stop))
    events = [step(topic, f"k{n % 5}", n) for n in range(600)]
    try:
        async with db.engine.begin() as conn:
            await db.repository.add_many(conn, events[:300])
        await _wait_for(lambda: _published_at_least(db, 300), "first half", 30)
        cut()
        async with db.engine.begin() as conn:
            await db.repository.add_many(conn, events[300:])
        await _wait_for(lambda: _has_attempts(db), "a failed attempt", 30)
        assert await db.count("failed") == 0
        assert await db.count("pending") == 300
        assert set(producer.readiness.problems()) == {"broker"}
        assert not running.done()
        restore()
        await _wait_for(lambda: _published_at_least(db, 600), "all rows", 60)
        assert producer.readiness.check() is None
    finally:
        stop.set()
        async with asyncio.timeout(30):
            await running
    return [str(e.event_id) for e in events]


async def _published_at_least(db: Database, count: int) -> bool:
    return await db.count("published") >= count


async def _has_attempts(db: Database) -> bool:
    return await _attempted(db) > 0


async def test_kafka_unreachable_mid_run(
    database: Database, kafka_via_proxy: ProxiedTansu, topic_name: str
) -> None:
    topic = await create_topic(kafka_via_proxy.bootstrap, topic_name, 2)
    producer = kafka_producer_factory(
        kafka_via_proxy.bootstrap,
        enable_idempotence=kafka_grants_producer_ids(),
        request_timeout_ms=1500,
        retry_backoff_ms=100,
    )
    broker = KafkaMessageBroker(producer, publish_timeout=3)
    proxy = kafka_via_proxy.proxy
    written = await _outage(database, broker, topic, proxy.cut, proxy.restore)
    records = await read_kafka(kafka_via_proxy.bootstrap, topic, len(written), timeout=30)
    assert set(written) <= {r.headers["event_id"] for r in records}  # at least once


async def test_rabbitmq_unreachable_mid_run(
    locking_database: Database, rabbitmq_url: str, make_tcp_proxy: Callable[[str, int], TcpProxy]
) -> None:
    harness = AMQPHarness(rabbitmq_url)
    await harness.setup()
    try:
        parts = urlsplit(rabbitmq_url)
        proxy = make_tcp_proxy(parts.hostname or "127.0.0.1", parts.port or 5672)
        credentials = parts.netloc.rpartition("@")[0]
        url = urlunsplit(parts._replace(netloc=f"{credentials}@{proxy.address}"))
        broker = AMQPMessageBroker(
            url, exchange=harness.exchange, publish_timeout=2, connect_timeout=5
        )
        written = await _outage(
            locking_database, broker, harness.destination, proxy.cut, proxy.restore
        )
        messages = await harness.read_messages(len(written), timeout=30)
    finally:
        await harness.aclose()
    assert set(written) <= {str(m.headers["event_id"]) for m in messages}
