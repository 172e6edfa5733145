"""Relaying the outbox to Kafka.

Run the relay as a service with the CLI (it stops cleanly on SIGTERM)::

    EXAMPLE_DATABASE_URL=postgresql+asyncpg://... EXAMPLE_KAFKA=localhost:9092 \\
        cqrs-worker relay examples.outbox_relay_kafka:build --factory

or, as ``main`` below does (``python -m examples.outbox_relay_kafka DB_URL
BOOTSTRAP``), publish what is waiting and stop.
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from cqrs_worker.brokers import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.outbox import EventProducer, RelaySettings
from examples.outbox_write import Schema, place_order


def build(
    url: str | None = None,
    bootstrap: str | None = None,
    *,
    prefix: str | None = None,
    idempotent: bool = True,
) -> EventProducer:
    """The relay: outbox table -> Kafka. Call it inside the event loop (aiokafka binds to it)."""
    url = url or os.environ["EXAMPLE_DATABASE_URL"]
    bootstrap = bootstrap or os.environ["EXAMPLE_KAFKA"]
    prefix = prefix or os.environ.get("EXAMPLE_PREFIX", "example")
    idempotent = idempotent and os.environ.get("EXAMPLE_KAFKA_IDEMPOTENT", "1") == "1"
    producer = kafka_producer_factory(bootstrap, enable_idempotence=idempotent)
    return EventProducer(
        create_async_engine(url),
        KafkaMessageBroker(producer),
        repository=Schema(prefix).outbox,
        settings=RelaySettings(batch_size=500),
    )


async def main(
    url: str, bootstrap: str, *, prefix: str = "example", idempotent: bool = True
) -> int:
    relay = build(url, bootstrap, prefix=prefix, idempotent=idempotent)
    schema = Schema(prefix)
    try:
        await schema.create(relay.engine)
        async with AsyncSession(relay.engine) as session:
            for total in (10, 20, 30):
                await place_order(session, schema, total)
        async with relay:
            published = await relay.drain()
        print(f"published {published} event(s) to Kafka")
        return published
    finally:
        await relay.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
