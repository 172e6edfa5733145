"""The python-cqrs README's "Kafka broker" sample, against the session's Kafka (Tansu).

Copied as written, with ``cqrs`` renamed to ``cqrs_worker``; the broker
address is the test's, and the sample's ``send_message(...)`` sends a
NotificationEvent to a fresh topic.
"""

from __future__ import annotations

import orjson
from aiokafka import AIOKafkaConsumer

from cqrs_worker import events
from tests.support.kafka import create_topic


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


async def test_kafka_broker_sample(kafka_bootstrap: str, topic_name: str) -> None:
    await create_topic(kafka_bootstrap, topic_name)
    event = events.NotificationEvent(
        event_name="UserJoined", topic=topic_name, payload={"user_id": "ada"}
    )

    # --- the sample ---
    from cqrs_worker.adapters import kafka as kafka_adapter
    from cqrs_worker.message_brokers import kafka as kafka_broker

    producer = kafka_adapter.kafka_producer_factory(
        dsn=kafka_bootstrap,
        topics=["test.topic1", "test.topic2"],
    )
    broker = kafka_broker.KafkaMessageBroker(producer)
    await broker.send_message(event)
    # --- end of the sample ---

    try:
        body = await read_one(kafka_bootstrap, topic_name)
        assert (body["event_name"], body["topic"]) == ("UserJoined", topic_name)
        assert body["event_id"] == str(event.event_id)
    finally:
        await broker.close()
