"""The python-cqrs README's "Producing Events from Outbox to Kafka" sample, MariaDB to Kafka.

Copied as written, with ``cqrs`` renamed to ``cqrs_worker``; the imports the
sample leaves out are added (``kafka_adapter``, ``zlib``, SQLAlchemy's), the
DSNs are the test's. It runs outside any event loop, as the sample does at
module level: the producer factory and the broker are built before a loop
exists. ``app.periodically_task()`` is the sample's application code; here it
relays what the outbox holds once.
"""

from __future__ import annotations

import asyncio
import logging
import types
import warnings

import orjson
import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer
from sqlalchemy.engine import make_url

from cqrs_worker import events
from cqrs_worker.outbox import OutboxRepository, PayloadEncoding
from tests.support.kafka import create_topic


async def write_outbox(url: str, topic: str) -> events.ECSTEvent[dict[str, str]]:
    """The outbox table with one zlib-compressed event in it, as a service would leave it."""
    repository = OutboxRepository(compression=PayloadEncoding.ZLIB)
    event = events.ECSTEvent[dict[str, str]](
        event_name="MeetingRoomClosed", topic=topic, payload={"message": "foo"}
    )
    engine = sa.ext.asyncio.create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(repository.table.metadata.create_all)
            await repository.add(conn, event)
    finally:
        await engine.dispose()
    return event


async def read_one(bootstrap: str, topic: str) -> dict[str, object]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = {}
        while not batches:
            batches = await consumer.getmany(timeout_ms=10_000)
        [[record]] = batches.values()
        assert record.value is not None
        return dict(orjson.loads(record.value))
    finally:
        await consumer.stop()


@pytest.fixture
def outbox_event(
    mariadb_database: str, kafka_bootstrap: str, topic_name: str
) -> events.ECSTEvent[dict[str, str]]:
    async def prepare() -> events.ECSTEvent[dict[str, str]]:
        await create_topic(kafka_bootstrap, topic_name)
        return await write_outbox(mariadb_database, topic_name)

    return asyncio.run(prepare())


def test_outbox_to_kafka_sample(
    outbox_event: events.ECSTEvent[dict[str, str]],
    mariadb_database: str,
    kafka_bootstrap: str,
    topic_name: str,
) -> None:
    url = make_url(mariadb_database)
    USER, PASSWORD, HOSTNAME = url.username, url.password or "", url.host
    PORT, DATABASE = url.port, url.database
    from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

    from cqrs_worker.adapters import kafka as kafka_adapter
    from cqrs_worker.compressors import zlib

    async def periodically_task() -> None:
        async with producer:
            await producer.drain()
        await producer.engine.dispose()

    app = types.SimpleNamespace(periodically_task=periodically_task)
    asyncio.set_event_loop(
        asyncio.new_event_loop()
    )  # what a fresh process has for get_event_loop()

    # --- the sample ---
    import asyncio as _asyncio  # noqa: F401  # the sample's "import asyncio"

    import cqrs_worker as cqrs
    from cqrs_worker.message_brokers import kafka as kafka_broker

    session_factory = async_sessionmaker(
        create_async_engine(
            f"mysql+asyncmy://{USER}:{PASSWORD}@{HOSTNAME}:{PORT}/{DATABASE}",
            isolation_level="REPEATABLE READ",
        )
    )

    broker = kafka_broker.KafkaMessageBroker(
        kafka_adapter.kafka_producer_factory(
            dsn=kafka_bootstrap,
            topics=["test.topic1", "test.topic2"],
        ),
        "DEBUG",
    )

    producer = cqrs.EventProducer(
        cqrs.SqlAlchemyOutboxedEventRepository(session_factory, zlib.ZlibCompressor()), broker
    )
    with warnings.catch_warnings():
        # Python 3.12+ deprecates get_event_loop() without a running loop; the sample uses it.
        warnings.simplefilter("ignore", DeprecationWarning)
        loop = asyncio.get_event_loop()
    loop.run_until_complete(app.periodically_task())
    # --- end of the sample ---

    try:
        body = loop.run_until_complete(read_one(kafka_bootstrap, topic_name))
    finally:
        loop.close()
        asyncio.set_event_loop(None)
        logging.getLogger("aiokafka").setLevel(logging.NOTSET)  # the sample's "DEBUG"
    assert body["event_id"] == str(outbox_event.event_id)
    assert (body["event_name"], body["payload"]) == ("MeetingRoomClosed", {"message": "foo"})
