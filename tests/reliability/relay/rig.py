"""The R10 relay rig: an outbox table on PostgreSQL, a feed of rows, a real relay process.

The test writes rows straight to PostgreSQL (never through a proxy) in steady
chunks, as an application would while the relay works; the relay process
(:mod:`tests.reliability.relay.app`) reaches the database and the broker as
each test arranges. At the end the test reads back every message the broker
holds and counts each written event id: none may be missing, and copies
beyond the first (duplicates) may only come from batches in flight at a cut.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import aio_pika
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped, unused-ignore]
from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker.outbox import OutboxRepository
from tests.integration.outbox.conftest import step
from tests.support.net import LOOPBACK, free_port
from tests.support.processes import ManagedProcess, ProcessSet

#: The feed: CHUNK rows every INTERVAL seconds (~250 a second, which the relay keeps up with).
CHUNK = 50
INTERVAL = 0.2
KEYS = 16
BATCH_SIZE = 100
CONCURRENCY = 3
#: Rows a cut can catch in flight: published (or not) but not yet marked. Only
#: these may come out twice.
IN_FLIGHT = BATCH_SIZE * CONCURRENCY


@dataclass
class RelayRig:
    engine: AsyncEngine  # the test's own, straight to PostgreSQL
    relay_database_url: str  # the relay's (perhaps through a proxy)
    table: sa.Table
    topic: str  # the Kafka topic, or the AMQP routing key
    processes: ProcessSet
    port: int = field(default_factory=free_port)
    written: list[str] = field(default_factory=list)

    @property
    def repository(self) -> OutboxRepository:
        return OutboxRepository(self.table)

    def start_relay(self, broker_env: dict[str, str]) -> ManagedProcess:
        env = {
            "RELAY_DATABASE_URL": self.relay_database_url,
            "RELAY_TABLE": self.table.name,
            "CQRS_WORKER_RELAY_HEALTH_HOST": LOOPBACK,
            "CQRS_WORKER_RELAY_CONCURRENCY": str(CONCURRENCY),
            # Rows whose publish failed retry within a second or two of the restore.
            "CQRS_WORKER_RELAY_RETRY_DELAY": "0.5",
            "CQRS_WORKER_RELAY_MAX_RETRY_DELAY": "2",
            **broker_env,
        }
        return self.processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "relay",
                "tests.reliability.relay.app:build",
                "--factory",
                "--batch-size",
                str(BATCH_SIZE),
                "--health-port",
                str(self.port),
            ],
            name="relay",
            env=env,
        )

    async def feed(self, stop: asyncio.Event) -> None:
        """Write CHUNK rows every INTERVAL seconds until ``stop`` is set."""
        seq = 0
        while not stop.is_set():
            events = [step(self.topic, f"k{n % KEYS}", n) for n in range(seq, seq + CHUNK)]
            async with self.engine.begin() as conn:
                await self.repository.add_many(conn, events)
            self.written += [str(e.event_id) for e in events]
            seq += CHUNK
            try:
                async with asyncio.timeout(INTERVAL):  # the pace of the feed
                    await stop.wait()
            except TimeoutError:
                pass

    async def published(self) -> int:
        t = self.table
        async with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).where(t.c.status == "published")
            return int((await conn.execute(query)).scalar_one())

    async def wait_published(self, at_least: int, *, timeout: float, relay: ManagedProcess) -> None:
        """Until ``at_least`` rows are marked published (polls the table: nothing to wait on)."""
        deadline = time.monotonic() + timeout
        while (done := await self.published()) < at_least:
            assert relay.running, f"{relay.describe()} exited:\n{relay.tail()}"
            if time.monotonic() > deadline:
                raise TimeoutError(f"{done} of {at_least} published after {timeout}s")
            await asyncio.sleep(0.1)

    def copies(self, event_ids: Iterable[str]) -> int:
        """Check every written id arrived; return how many extra copies arrived."""
        counted = collections.Counter(event_ids)
        missing = set(self.written) - set(counted)
        assert not missing, f"{len(missing)} of {len(self.written)} rows never arrived"
        assert set(counted) <= set(self.written), "messages nobody wrote"
        return sum(n - 1 for n in counted.values())


async def read_kafka_all(
    bootstrap: str, topic: str, partitions: int, *, timeout: float = 30
) -> list[str]:
    """The ``event_id`` header of every record of ``topic``, duplicates included."""
    consumer: Any = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        assigned = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(assigned)
        await consumer.seek_to_beginning(*assigned)
        ends = await consumer.end_offsets(assigned)
        ids: list[str] = []
        async with asyncio.timeout(timeout):
            while any([await consumer.position(tp) < ends[tp] for tp in assigned]):
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    ids += [dict(r.headers)["event_id"].decode() for r in records]
        return ids
    finally:
        await consumer.stop()


async def read_queue_all(url: str, queue: str) -> list[str]:
    """Take every message off ``queue``; their ``event_id`` headers."""
    connection = await aio_pika.connect(url)
    try:
        channel = await connection.channel()
        q = await channel.declare_queue(queue, passive=True)
        ids = []
        while (message := await q.get(no_ack=True, fail=False)) is not None:
            value = message.headers["event_id"]
            ids.append(value.decode() if isinstance(value, bytes) else str(value))
        return ids
    finally:
        await connection.close()
