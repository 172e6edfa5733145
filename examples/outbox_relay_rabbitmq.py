"""Relaying the outbox to RabbitMQ.

Events go to a topic exchange with their ``topic`` as routing key; bind your
queues with it (here ``orders``). As a service::

    EXAMPLE_DATABASE_URL=... EXAMPLE_AMQP=amqp://guest:guest@localhost/ \\
        cqrs-worker relay examples.outbox_relay_rabbitmq:build --factory
"""

from __future__ import annotations

import asyncio
import os
import sys

from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from cqrs_worker.brokers import AMQPMessageBroker
from cqrs_worker.outbox import EventProducer
from examples.outbox_write import Schema, place_order


def build(
    url: str | None = None,
    amqp_url: str | None = None,
    *,
    exchange: str = "example.events",
    prefix: str | None = None,
) -> EventProducer:
    """The relay: outbox table -> RabbitMQ exchange ``exchange``."""
    return EventProducer(
        create_async_engine(url or os.environ["EXAMPLE_DATABASE_URL"]),
        AMQPMessageBroker(amqp_url or os.environ["EXAMPLE_AMQP"], exchange=exchange),
        repository=Schema(prefix or os.environ.get("EXAMPLE_PREFIX", "example")).outbox,
    )


async def main(
    url: str, amqp_url: str, *, exchange: str = "example.events", prefix: str = "example"
) -> int:
    relay = build(url, amqp_url, exchange=exchange, prefix=prefix)
    schema = Schema(prefix)
    try:
        await schema.create(relay.engine)
        async with AsyncSession(relay.engine) as session:
            for total in (10, 20, 30):
                await place_order(session, schema, total)
        async with relay:
            published = await relay.drain()
        print(f"published {published} event(s) to RabbitMQ")
        return published
    finally:
        await relay.engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
