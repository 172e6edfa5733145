"""The worker with the inbox, end to end: Kafka -> handler -> PostgreSQL, with and without it.

Run with ``.venv/bin/python benchmarks/bench_inbox.py [--events 50000]``.
Uses ``CQRS_WORKER_TEST_POSTGRES`` (default the local ``test`` database) and
``CQRS_WORKER_TEST_KAFKA`` (default: a Tansu broker started for the run).

1. N ``UserJoined`` envelopes (10,000 keys) are produced to a fresh topic of
   4 partitions (not timed).
2. Each run is a :class:`~cqrs_worker.worker.app.Worker` with a Kafka source
   and a :class:`~cqrs_worker.inbox.UnitOfWork` (per-batch units of work) on
   PostgreSQL; the handler writes one row per event (``session.add``; the
   session's flush at commit inserts a batch's rows in one statement). Timed
   from the moment the worker is running (partitions assigned) until every
   event was handled.
3. With the inbox (a record per event, checked before the handlers run) and
   the same worker without it, each in a fresh consumer group on the same
   topic.

Target: >= 5,000 events/s with the inbox. The ratio to the run without the
inbox is printed. Exits 1 if the target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from cqrs_worker import DefaultContainer, EventMap, NotificationEvent, bootstrap
from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from cqrs_worker.inbox import Inbox, UnitOfWork, UnitOfWorkSettings, inbox_table
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import WorkerSettings
from tests.support.kafka import TansuBroker, create_topic

RATE_TARGET = 5_000
BATCH_CONCURRENCY = 2


class Joined(pydantic.BaseModel):
    user: str
    meeting: str


class UserJoined(NotificationEvent[Joined]):
    event_name: str = "UserJoined"
    topic: str = "users"


class Participant:
    def __init__(self, event_id: uuid.UUID, user: str, meeting: str) -> None:
        self.event_id = event_id
        self.user = user
        self.meeting = meeting


class OnUserJoined:
    """``session.add`` (``--write orm``): the batch's rows go out in one INSERT at the commit."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def handle(self, event: UserJoined) -> None:
        self.session.add(Participant(event.event_id, event.payload.user, event.payload.meeting))


class OnUserJoinedCore:
    """``session.execute(insert)`` (``--write core``): one INSERT statement per event."""

    table: sa.Table

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def handle(self, event: UserJoined) -> None:
        await self.session.execute(
            sa.insert(self.table).values(
                event_id=event.event_id, user=event.payload.user, meeting=event.payload.meeting
            )
        )


async def produce(kafka: str, topic: str, n: int, idempotence: bool) -> None:
    broker = KafkaMessageBroker(kafka_producer_factory(kafka, enable_idempotence=idempotence))
    await broker.start()
    try:
        for start in range(0, n, 2000):
            await broker.publish(
                [
                    OutgoingMessage.from_event(
                        UserJoined(
                            topic=topic,
                            partition_key=f"user-{i % 10_000}",
                            payload=Joined(user=f"user-{i}", meeting=f"m-{i % 100}"),
                        )
                    )
                    for i in range(start, min(n, start + 2000))
                ]
            )
    finally:
        await broker.close()


async def run_worker(
    engine: AsyncEngine,
    inbox: Inbox | None,
    kafka: str,
    topic: str,
    n: int,
    batch: int,
    handler: type[OnUserJoined | OnUserJoinedCore],
) -> float:
    container = DefaultContainer()
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=inbox,
        settings=UnitOfWorkSettings(
            retention=None, batch_size=batch, batch_concurrency=BATCH_CONCURRENCY
        ),
    )
    events = EventMap()
    events.bind(UserJoined, handler)
    mediator = bootstrap(
        events=events, container=container, emitter=unit_of_work.emitter, middlewares=()
    ).events
    settings = WorkerSettings(
        kafka_bootstrap=kafka,
        group_id=f"bench-inbox-{uuid.uuid4().hex[:8]}",
        topics=(topic,),
        concurrency=512,
        batch_size=2000,
        health_port=0,
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
        kafka_idempotence=False,
    )
    worker = Worker(mediator, settings, middlewares=[unit_of_work])
    async with worker.running():
        started = time.perf_counter()
        while worker.stats.handled + worker.stats.duplicates < n:
            if time.perf_counter() - started > 600:
                raise TimeoutError(f"handled {worker.stats.handled} of {n} in 600 s")
            await asyncio.sleep(0.02)
        elapsed = time.perf_counter() - started
    if worker.stats.retried or worker.stats.dead_lettered:
        raise RuntimeError(f"unexpected failures: {worker.stats.snapshot()}")
    return n / elapsed


async def main(n: int, batch: int, write: str) -> int:
    postgres = os.environ.get(
        "CQRS_WORKER_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    external = os.environ.get("CQRS_WORKER_TEST_KAFKA")
    tansu = None if external else TansuBroker().start()
    kafka = external or tansu.bootstrap  # type: ignore[union-attr]  # one of the two is set
    engine = create_async_engine(postgres, pool_size=8)
    suffix = uuid.uuid4().hex[:10]
    metadata = sa.MetaData()
    rows = sa.Table(
        f"bench_participants_{suffix}",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("user", sa.String(64), nullable=False),
        sa.Column("meeting", sa.String(64), nullable=False),
    )
    mapper = registry()
    mapper.map_imperatively(Participant, rows)
    OnUserJoinedCore.table = rows
    handler = OnUserJoined if write == "orm" else OnUserJoinedCore
    inbox = Inbox(consumer="bench", table=inbox_table(metadata, name=f"bench_inbox_{suffix}"))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        topic = await create_topic(kafka, f"bench-inbox-{suffix}", 4)
        await produce(kafka, topic, n, idempotence=external is not None)
        with_inbox = await run_worker(engine, inbox, kafka, topic, n, batch, handler)
        without = await run_worker(engine, None, kafka, topic, n, batch, handler)
        async with engine.connect() as conn:
            written = (await conn.execute(sa.select(sa.func.count()).select_from(rows))).scalar()
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
        mapper.dispose()
        if tansu is not None:
            tansu.stop()
    print(f"events:                          {n} (rows written by both runs: {written})")
    mode = "per event" if batch == 1 else f"batches of <= {batch}"
    print(f"unit of work:                    {mode}; row written with {write}")
    print(f"worker + inbox + 1 row/event:    {with_inbox:,.0f} events/s")
    print(f"same worker without the inbox:   {without:,.0f} events/s")
    print(f"ratio with/without inbox:        {with_inbox / without:.0%}")
    print(f"target with the inbox:           >= {RATE_TARGET:,} events/s")
    ok = with_inbox >= RATE_TARGET
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument(
        "--batch-size", type=int, default=500, help="UnitOfWork batch_size (1: per event)"
    )
    parser.add_argument(
        "--write", choices=("orm", "core"), default="orm", help="session.add or session.execute"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.events, args.batch_size, args.write)))
