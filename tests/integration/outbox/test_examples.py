"""The outbox examples run against the real services."""

from __future__ import annotations

import aio_pika

from examples import outbox_relay_kafka, outbox_relay_rabbitmq, outbox_write
from tests.contract.brokers.harness import kafka_grants_producer_ids, read_kafka
from tests.integration.outbox.conftest import Database
from tests.support.names import unique_name


def _prefix() -> str:
    return unique_name("ex").replace("-", "_")[:30]


async def _drop(url: str, prefix: str) -> None:
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    schema = outbox_write.Schema(prefix)
    async with engine.begin() as conn:
        await conn.run_sync(schema.metadata.drop_all)
    await engine.dispose()


async def test_writing_rows_and_an_event_in_one_transaction(database: Database) -> None:
    prefix = _prefix()
    try:
        stats = await outbox_write.main(database.url, prefix=prefix)
    finally:
        await _drop(database.url, prefix)
    assert (stats.pending, stats.failed) == (1, 0)  # the failed order left no event


async def test_relaying_to_kafka(database: Database, kafka_bootstrap: str) -> None:
    prefix = _prefix()
    try:
        published = await outbox_relay_kafka.main(
            database.url, kafka_bootstrap, prefix=prefix, idempotent=kafka_grants_producer_ids()
        )
    finally:
        await _drop(database.url, prefix)
    assert published == 3
    records = await read_kafka(kafka_bootstrap, "orders", 3, timeout=20)
    assert len(records) >= 3


async def test_relaying_to_rabbitmq(database: Database, rabbitmq_url: str) -> None:
    prefix, exchange = _prefix(), unique_name("example.events")
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        exchange_ = await channel.declare_exchange(
            exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange_, "orders")
        try:
            published = await outbox_relay_rabbitmq.main(
                database.url, rabbitmq_url, exchange=exchange, prefix=prefix
            )
        finally:
            await _drop(database.url, prefix)
        assert published == 3
        bodies = []
        async with queue.iterator() as messages:
            async for message in messages:
                bodies.append(message.body)
                await message.ack()
                if len(bodies) == 3:
                    break
        assert len(bodies) == 3
        await exchange_.delete()
    finally:
        await connection.close()
