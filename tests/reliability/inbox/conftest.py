"""The pieces the inbox reliability suites share: tables, worker processes, the relay.

Worker processes run :mod:`tests.reliability.inbox.app` through
``python -m cqrs_worker.cli run``, on the session's Kafka broker and a
table set of the test's own on PostgreSQL (or MariaDB).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.brokers import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.outbox import EventProducer, OutboxRepository, RelaySettings
from tests.reliability.inbox.app import Joined, Tables, UserJoined, tables
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic, publish_events
from tests.support.processes import ManagedProcess, ProcessSet


@dataclass
class Rig:
    """A test's topics, tables and worker settings."""

    kafka: str
    database_url: str
    engine: AsyncEngine
    tables: Tables
    suffix: str
    topic: str
    out_topic: str
    group: str
    processes: ProcessSet
    workers: list[ManagedProcess] = field(default_factory=list)

    def start_worker(
        self, *, batch: int = 1, env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        """A worker process of tests.reliability.inbox.app; ``env`` adds or overrides settings."""
        settings = {
            "CQRS_WORKER_KAFKA_BOOTSTRAP": self.kafka,
            "CQRS_WORKER_GROUP_ID": self.group,
            "CQRS_WORKER_TOPICS": self.topic,
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
            "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",  # Tansu grants no producer ids
            "CQRS_WORKER_MAX_ATTEMPTS": "3",
            "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
            "CQRS_WORKER_RETRY_MAX_DELAY": "0.05",
            "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
            "INBOX_RELIABILITY_DB": self.database_url,
            "INBOX_RELIABILITY_SUFFIX": self.suffix,
            "INBOX_RELIABILITY_OUT": self.out_topic,
            "CQRS_WORKER_UNIT_OF_WORK_BATCH_SIZE": str(batch),
            **(env or {}),
        }
        worker = self.processes.start_python(
            ["-m", "cqrs_worker.cli", "run", "tests.reliability.inbox.app:build", "--factory"],
            name="inbox-worker",
            env=settings,
        )
        self.workers.append(worker)
        return worker

    async def produce(self, events: Sequence[UserJoined]) -> None:
        await publish_events(self.kafka, events)

    def event(self, user: str, *, fail: str = "never", key: str | None = None) -> UserJoined:
        return UserJoined(
            topic=self.topic,
            partition_key=key or user,
            payload=Joined.model_validate({"user": user, "fail": fail}),
        )

    async def scalar(self, query: sa.Select[Any]) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def count(self, table: sa.Table) -> int:
        return await self.scalar(sa.select(sa.func.count()).select_from(table))

    async def users(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(self.tables.participants.c.user_id))
            return [user for (user,) in rows]

    async def wait_for_rows(
        self,
        at_least: int,
        *,
        timeout: float,
        table: sa.Table | None = None,
    ) -> int:
        """Wait until ``table`` (default: participants) has ``at_least`` rows; fail on a crash."""
        table = table if table is not None else self.tables.participants
        deadline = time.monotonic() + timeout
        while (count := await self.count(table)) < at_least:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{count} of {at_least} rows of {table.name} after {timeout:.0f}s"
                )
            for worker in self.workers:
                if worker.started and not worker.running and worker.returncode not in (-9, None):
                    raise RuntimeError(f"{worker.describe()} exited:\n{worker.tail()}")
            await asyncio.sleep(0.1)
        return count

    async def relay_everything(self, *, timeout: float = 120.0) -> None:
        """Run the outbox relay until no row is pending (then stop it)."""
        broker = KafkaMessageBroker(kafka_producer_factory(self.kafka, enable_idempotence=False))
        producer = EventProducer(
            self.engine,
            broker,
            repository=OutboxRepository(self.tables.outbox),
            settings=RelaySettings(retention=None),
        )
        t = self.tables.outbox
        pending = sa.select(sa.func.count()).select_from(t).where(t.c.status != "published")
        stop = asyncio.Event()
        running = asyncio.create_task(producer.run(stop))
        try:
            deadline = time.monotonic() + timeout
            while await self.scalar(pending):
                if running.done():
                    running.result()
                if time.monotonic() > deadline:
                    raise TimeoutError("the relay did not publish every outbox row")
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await running

    async def published_ids(
        self,
        expected: int,
        *,
        timeout: float = 60.0,
    ) -> list[str]:
        """The ``event_id`` of every message on the output topic (waits for ``expected``)."""
        consumer = AIOKafkaConsumer(
            self.out_topic,
            bootstrap_servers=self.kafka,
            group_id=None,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
        )
        await consumer.start()
        ids: list[str] = []
        try:
            deadline = time.monotonic() + timeout
            while len(ids) < expected and time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500, max_records=5000)
                for records in batch.values():
                    ids += [orjson.loads(record.value)["event_id"] for record in records]
            # Anything beyond the expected count would be a duplicate: look once more.
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                ids += [orjson.loads(record.value)["event_id"] for record in records]
        finally:
            await consumer.stop()
        return ids

    async def outbox_ids(self) -> list[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(self.tables.outbox.c.event_id))
            return [str(event_id) for (event_id,) in rows]


@pytest.fixture
async def rig(
    request: pytest.FixtureRequest, kafka_bootstrap: str, processes: ProcessSet
) -> AsyncIterator[Rig]:
    """PostgreSQL, or the database the test names: ``parametrize("rig", [...], indirect=True)``."""
    kind = getattr(request, "param", "postgres")
    fixture = "mysql_url" if kind == "mariadb" else "postgres_url"
    database_url = str(request.getfixturevalue(fixture))
    suffix = uuid.uuid4().hex[:12]
    metadata = sa.MetaData()
    t = tables(metadata, suffix)
    engine = create_async_engine(database_url, pool_size=5)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    topic = await create_topic(kafka_bootstrap, f"rel-inbox-{suffix}", 4)
    out_topic = await create_topic(kafka_bootstrap, f"rel-inbox-out-{suffix}", 4)
    try:
        yield Rig(
            kafka=kafka_bootstrap,
            database_url=database_url,
            engine=engine,
            tables=t,
            suffix=suffix,
            topic=topic,
            out_topic=out_topic,
            group=f"rel-inbox-{suffix}",
            processes=processes,
        )
    finally:
        processes.stop_all()
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
