"""R10 for the relay: a real ``cqrs-worker relay`` rides out each outage; 0 rows lost.

Each test feeds outbox rows on PostgreSQL (~250 a second, written straight to
the database) to one relay process, cuts one dependency while rows flow, and
checks the relay's ``/readyz``: 503 naming the dependency within
:data:`NOT_READY_WITHIN`, for as long as the outage lasts, and 200 within
:data:`READY_AGAIN_WITHIN` of the restore. Then every row is published, the
broker holds every written event id, and the copies beyond the first number
at most :data:`~tests.reliability.relay.rig.IN_FLIGHT` (the batches a cut can
catch between the broker's confirm and the commit).

* database: the relay reaches PostgreSQL through a TCP proxy, cut for
  :data:`DB_OUTAGE` seconds; it publishes to the session's Kafka.
* Kafka: a Tansu behind a proxy it advertises, cut for :data:`KAFKA_OUTAGE`.
* RabbitMQ: the local server's application is stopped and started again
  (:mod:`tests.support.rabbitmq_server`; skipped, saying why, where it cannot be).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import aio_pika
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.outbox import outbox_table
from tests.contract.brokers.harness import kafka_grants_producer_ids
from tests.integration.outbox.scrape import scrape
from tests.reliability.relay.rig import (
    IN_FLIGHT,
    RelayRig,
    read_kafka_all,
    read_queue_all,
)
from tests.reliability.worker.test_r10_outages import Health
from tests.support.kafka import create_topic
from tests.support.names import unique_name
from tests.support.net import LOOPBACK
from tests.support.processes import ManagedProcess, ProcessSet
from tests.support.proxy import ProxiedTansu, TcpProxy
from tests.support.rabbitmq_server import LocalRabbitMQ, RestartUnavailableError

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(150)]

PARTITIONS = 2
#: Rows published before the cut.
BEFORE_CUT = 500
#: A database error shows at the next claim (the relay claims at least once a
#: second); a broker cut at the next publish, within the app's 4 s publish timeout.
NOT_READY_WITHIN = 10.0
#: The relay retries every 0.5 s doubling up to 10 s; the AMQP client reconnects every 5 s.
READY_AGAIN_WITHIN = 30.0
DB_OUTAGE = 10.0
KAFKA_OUTAGE = 6.0
RABBIT_OUTAGE = 4.0
#: A scrape reads no table: it answers at once, also while the database is away.
SCRAPE_WITHIN = 2.0


@dataclass
class Outage:
    not_ready: float
    bodies: set[str]
    ready_again: float
    published_at_cut: int
    written: int

    def summary(self, name: str, duplicates: int, began: float) -> str:
        return (
            f"R10 relay ({name}): {self.written} rows, 0 lost, {duplicates} duplicates "
            f"(bound {IN_FLIGHT}); cut at {self.published_at_cut} published: not ready after "
            f"{self.not_ready:.1f}s ({' | '.join(sorted(self.bodies))}), ready "
            f"{self.ready_again:.1f}s after restore; {time.monotonic() - began:.0f}s"
        )


async def scraped_during_outage(port: int, *, down: str) -> None:
    """``/metrics`` answers at once in an outage: readiness 0 for ``down``, the last counts."""
    started = time.monotonic()
    samples = await scrape(port)
    assert time.monotonic() - started < SCRAPE_WITHIN
    for dependency in ("database", "broker"):
        expected = 0 if dependency == down else 1
        assert samples.get_value("cqrs_worker_relay_ready", dependency=dependency) == expected
    assert samples["cqrs_worker_outbox_published_total"] >= BEFORE_CUT
    assert "cqrs_worker_outbox_pending_rows" in samples


async def ride_out(
    rig: RelayRig,
    relay: ManagedProcess,
    *,
    cut: Callable[[], None],
    restore: Callable[[], None],
    seconds: float,
    down: str,
) -> Outage:
    """Feed rows; cut after :data:`BEFORE_CUT` are published; check readiness; restore; drain."""
    health = Health(rig.port)
    await relay.await_line("relaying outbox table", timeout=60)
    await health.wait_for(200, timeout=30, worker=relay)
    stop = asyncio.Event()
    feeding = asyncio.create_task(rig.feed(stop))
    try:
        await rig.wait_published(BEFORE_CUT, timeout=60, relay=relay)
        published_at_cut = await rig.published()
        await asyncio.to_thread(cut)
        not_ready = await health.wait_for(503, timeout=NOT_READY_WITHIN, worker=relay)
        await scraped_during_outage(rig.port, down=down)
        bodies = await health.stays(503, seconds=max(1.0, seconds - not_ready))
        await asyncio.to_thread(restore)
        ready_again = await health.wait_for(200, timeout=READY_AGAIN_WITHIN, worker=relay)
    finally:
        stop.set()
        await feeding
    await rig.wait_published(len(rig.written), timeout=60, relay=relay)
    await health.stays(200, seconds=1.0)
    relay.terminate()
    assert await relay.wait_async(timeout=30) == 0, relay.tail()
    return Outage(not_ready, bodies, ready_again, published_at_cut, len(rig.written))


@pytest.fixture
async def outbox(postgres_url: str) -> AsyncIterator[tuple[AsyncEngine, sa.Table]]:
    engine = create_async_engine(postgres_url)
    metadata = sa.MetaData()
    table = outbox_table(metadata, name=unique_name("r10_relay").replace("-", "_")[:40])
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield engine, table
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


def via_proxy(url: str, proxy: TcpProxy) -> str:
    parts = urlsplit(url)
    netloc = f"{parts.username}@{proxy.address}" if parts.username else proxy.address
    return urlunsplit(parts._replace(netloc=netloc))


def kafka_env(bootstrap: str) -> dict[str, str]:
    return {
        "RELAY_KAFKA": bootstrap,
        "RELAY_KAFKA_IDEMPOTENT": "1" if kafka_grants_producer_ids() else "0",
    }


async def test_database_cut_for_10s(
    outbox: tuple[AsyncEngine, sa.Table],
    postgres_url: str,
    kafka_bootstrap: str,
    processes: ProcessSet,
    make_tcp_proxy: Callable[[str, int], TcpProxy],
) -> None:
    began = time.monotonic()
    engine, table = outbox
    parts = urlsplit(postgres_url)
    proxy = make_tcp_proxy(parts.hostname or LOOPBACK, parts.port or 5432)
    topic = await create_topic(kafka_bootstrap, unique_name("r10-relay-db"), PARTITIONS)
    rig = RelayRig(engine, via_proxy(postgres_url, proxy), table, topic, processes)
    relay = rig.start_relay(kafka_env(kafka_bootstrap))
    outage = await ride_out(
        rig, relay, cut=proxy.cut, restore=proxy.restore, seconds=DB_OUTAGE, down="database"
    )
    duplicates = rig.copies(await read_kafka_all(kafka_bootstrap, topic, PARTITIONS))
    assert duplicates <= IN_FLIGHT
    assert all(body.startswith("not ready: database (") for body in outage.bodies), outage.bodies
    print(outage.summary("database", duplicates, began))


async def test_kafka_cut(
    outbox: tuple[AsyncEngine, sa.Table],
    postgres_url: str,
    kafka_via_proxy: ProxiedTansu,
    processes: ProcessSet,
) -> None:
    began = time.monotonic()
    engine, table = outbox
    bootstrap, proxy = kafka_via_proxy.bootstrap, kafka_via_proxy.proxy
    topic = await create_topic(bootstrap, unique_name("r10-relay-kafka"), PARTITIONS)
    rig = RelayRig(engine, postgres_url, table, topic, processes)
    relay = rig.start_relay(kafka_env(bootstrap))
    outage = await ride_out(
        rig, relay, cut=proxy.cut, restore=proxy.restore, seconds=KAFKA_OUTAGE, down="broker"
    )
    duplicates = rig.copies(await read_kafka_all(bootstrap, topic, PARTITIONS))
    assert duplicates <= IN_FLIGHT
    assert all(body.startswith("not ready: broker (") for body in outage.bodies), outage.bodies
    print(outage.summary("kafka", duplicates, began))


@pytest.fixture
def local_rabbitmq(rabbitmq_url: str) -> Iterator[LocalRabbitMQ]:
    """The local RabbitMQ, to restart; running again at teardown whatever happened."""
    try:
        server = LocalRabbitMQ.of(rabbitmq_url)
    except RestartUnavailableError as exc:
        pytest.skip(f"cannot restart RabbitMQ: {exc}")
    try:
        yield server
    finally:
        server.ensure_running()


@pytest.fixture
async def rabbit_queue(rabbitmq_url: str) -> AsyncIterator[tuple[str, str, str]]:
    """A durable exchange and queue of the test's own, bound by a routing key."""
    exchange, queue, key = (unique_name(p) for p in ("r10-relay-ex", "r10-relay-q", "r10-rk"))
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        q = await channel.declare_queue(queue, durable=True)
        await q.bind(ex, key)
    finally:
        await connection.close()
    try:
        yield exchange, queue, key
    finally:
        connection = await aio_pika.connect(rabbitmq_url)
        try:
            channel = await connection.channel()
            await channel.queue_delete(queue)
            await channel.exchange_delete(exchange)
        finally:
            await connection.close()


async def test_rabbitmq_restarted(
    outbox: tuple[AsyncEngine, sa.Table],
    postgres_url: str,
    rabbitmq_url: str,
    local_rabbitmq: LocalRabbitMQ,
    rabbit_queue: tuple[str, str, str],
    processes: ProcessSet,
) -> None:
    began = time.monotonic()
    engine, table = outbox
    exchange, queue, key = rabbit_queue
    rig = RelayRig(engine, postgres_url, table, key, processes)
    relay = rig.start_relay({"RELAY_AMQP": rabbitmq_url, "RELAY_EXCHANGE": exchange})
    outage = await ride_out(
        rig,
        relay,
        cut=local_rabbitmq.stop_app,
        restore=local_rabbitmq.start_app,
        seconds=RABBIT_OUTAGE,
        down="broker",
    )
    duplicates = rig.copies(await read_queue_all(rabbitmq_url, queue))
    assert duplicates <= IN_FLIGHT
    assert all(body.startswith("not ready: broker (") for body in outage.bodies), outage.bodies
    print(outage.summary("rabbitmq", duplicates, began))
