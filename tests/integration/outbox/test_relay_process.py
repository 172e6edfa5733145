"""``cqrs-worker relay`` as a real process: SIGTERM finishes the batch in hand and exits 0."""

from __future__ import annotations

import signal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from examples.outbox_write import OrderPlaced, Placed, Schema
from tests.contract.brokers.harness import kafka_grants_producer_ids
from tests.support.kafka import create_topic
from tests.support.names import unique_name
from tests.support.processes import ProcessSet


async def test_sigterm_finishes_the_batch_in_hand_and_releases_its_claims(
    postgres_url: str, kafka_bootstrap: str, processes: ProcessSet
) -> None:
    prefix = unique_name("sig").replace("-", "_")[:30]
    topic = unique_name("orders")
    schema = Schema(prefix)
    engine = create_async_engine(postgres_url)
    table = schema.outbox.table
    try:
        await create_topic(kafka_bootstrap, topic, 2)
        await schema.create(engine)
        async with engine.begin() as conn:
            await schema.outbox.add_many(
                conn,
                [
                    OrderPlaced(
                        payload=Placed(order_id=f"o{n % 50}", total=n), partition_key=f"o{n % 50}"
                    )
                    for n in range(20_000)
                ],
            )
        relay = processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "relay",
                "examples.outbox_relay_kafka:build",
                "--factory",
                "--batch-size",
                "200",
            ],
            name="relay",
            env={
                "EXAMPLE_DATABASE_URL": postgres_url,
                "EXAMPLE_KAFKA": kafka_bootstrap,
                "EXAMPLE_PREFIX": prefix,
                "EXAMPLE_KAFKA_IDEMPOTENT": "1" if kafka_grants_producer_ids() else "0",
                "CQRS_WORKER_RELAY_HEALTH_PORT": "0",  # another test's relay may hold 8081
            },
        )
        relay.wait_for_line("relaying outbox table", timeout=30)
        published = sa.select(table.c.event_id).where(table.c.status == "published")
        async with engine.connect() as conn:
            while not (await conn.execute(published.limit(1))).first():
                await conn.rollback()
        relay.send_signal(signal.SIGTERM)
        assert await relay.wait_async(timeout=20) == 0
        relay.wait_for_line("stopped", timeout=1)

        async with engine.begin() as conn:
            # Nothing is still locked: every row can be locked at once without waiting.
            locked = await conn.execute(sa.select(table.c.id).with_for_update(nowait=True))
            assert len(locked.all()) == 20_000
            done = {str(i) for i in (await conn.execute(published)).scalars()}
        assert 0 < len(done) < 20_000, "stopped mid-backlog"
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()
