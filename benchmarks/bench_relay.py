"""Outbox relay throughput, PostgreSQL to Kafka, next to a raw aiokafka producer in one run.

Run with ``.venv/bin/python benchmarks/bench_relay.py [--events 100000]``.
Uses ``CQRS_WORKER_TEST_POSTGRES`` (default the local ``test`` database) and
``CQRS_WORKER_TEST_KAFKA`` (default: a Tansu broker started for the run).

1. N outbox rows (~230-byte envelopes, 1,000 partition keys) are written and
   the table is analyzed (not timed).
2. Raw: one ``AIOKafkaProducer`` sends exactly those bytes (topic, key,
   headers, body) in chunks of the relay's batch size, awaiting each chunk's
   deliveries -- what a relay does minus the database.
3. Relay: ``EventProducer`` (default settings: batches of 2,000, 3 in flight)
   publishes the rows; timed from start until every row is ``published``.

Targets: relay >= 50 % of raw, and >= 20,000 events/s. Exits 1 if missed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]  # no type hints

from cqrs_worker import NotificationEvent
from cqrs_worker.brokers import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.outbox import EventProducer, OutboxRepository, RelaySettings, outbox_table
from tests.support.kafka import TansuBroker, create_topic

RATIO_TARGET = 0.5
RATE_TARGET = 20_000
PRODUCER_OPTIONS: dict[str, Any] = {"linger_ms": 5, "acks": "all"}


class Placed(pydantic.BaseModel):
    order_id: str
    amount: int
    note: str


class OrderPlaced(NotificationEvent[Placed]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


async def write_rows(engine: AsyncEngine, repository: OutboxRepository, topic: str, n: int) -> None:
    for start in range(0, n, 5000):
        events = [
            OrderPlaced(
                topic=topic,
                partition_key=f"order-{i % 1000}",
                payload=Placed(order_id=f"order-{i % 1000}", amount=i, note="x" * 40),
            )
            for i in range(start, min(n, start + 5000))
        ]
        async with engine.begin() as conn:
            await repository.add_many(conn, events)
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(sa.text(f"ANALYZE {repository.table.name}"))


async def raw_rate(
    engine: AsyncEngine, table: sa.Table, bootstrap: str, chunk: int, idempotence: bool
) -> float:
    async with engine.connect() as conn:
        rows = list(
            await conn.execute(
                sa.select(
                    table.c.topic, table.c.partition_key, table.c.headers, table.c.payload
                ).order_by(table.c.id)
            )
        )
    import orjson

    messages = [
        (
            topic,
            key.encode(),
            [(k, v.encode()) for k, v in orjson.loads(headers).items()],
            bytes(body),
        )
        for topic, key, headers, body in rows
    ]
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, enable_idempotence=idempotence, **PRODUCER_OPTIONS
    )
    await producer.start()
    try:
        started = time.perf_counter()
        for i in range(0, len(messages), chunk):
            futures = [
                await producer.send(topic, body, key=key, headers=headers)
                for topic, key, headers, body in messages[i : i + chunk]
            ]
            await asyncio.gather(*futures)
        return len(messages) / (time.perf_counter() - started)
    finally:
        await producer.stop()


async def relay_rate(
    engine: AsyncEngine, repository: OutboxRepository, bootstrap: str, n: int, idempotence: bool
) -> float:
    broker = KafkaMessageBroker(
        kafka_producer_factory(bootstrap, enable_idempotence=idempotence, linger_ms=5)
    )
    producer = EventProducer(
        engine, broker, repository=repository, settings=RelaySettings(retention=None)
    )
    t = repository.table
    pending = sa.select(sa.func.count()).select_from(t).where(t.c.status == "pending")
    stop = asyncio.Event()
    started = time.perf_counter()
    running = asyncio.create_task(producer.run(stop))
    try:
        while True:
            await asyncio.sleep(0.05)
            async with engine.connect() as conn:
                if (await conn.execute(pending)).scalar_one() == 0:
                    break
            if running.done():
                running.result()
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await running
    return n / elapsed


async def main(events: int) -> int:
    postgres = os.environ.get(
        "CQRS_WORKER_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    )
    external = os.environ.get("CQRS_WORKER_TEST_KAFKA")
    tansu = None if external else TansuBroker().start()
    bootstrap = external or tansu.bootstrap  # type: ignore[union-attr]  # one of the two is set
    idempotence = external is not None  # Tansu 0.6 cannot grant producer ids
    engine = create_async_engine(postgres, pool_size=10)
    metadata = sa.MetaData()
    table = outbox_table(metadata, name=f"bench_outbox_{uuid.uuid4().hex[:12]}")
    repository = OutboxRepository(table)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
        topic = await create_topic(bootstrap, f"bench-relay-{uuid.uuid4().hex[:8]}", 4)
        await write_rows(engine, repository, topic, events)
        raw = await raw_rate(engine, table, bootstrap, RelaySettings().batch_size, idempotence)
        relay = await relay_rate(engine, repository, bootstrap, events, idempotence)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
        if tansu is not None:
            tansu.stop()
    ratio = relay / raw
    print(f"events:                 {events}")
    print(f"raw aiokafka producer:  {raw:,.0f} events/s")
    print(f"relay (PG -> Kafka):    {relay:,.0f} events/s")
    print(f"ratio relay/raw:        {ratio:.0%} (target >= {RATIO_TARGET:.0%})")
    print(f"relay target:           >= {RATE_TARGET:,} events/s")
    ok = ratio >= RATIO_TARGET and relay >= RATE_TARGET
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=100_000)
    sys.exit(asyncio.run(main(parser.parse_args().events)))
