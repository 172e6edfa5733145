"""``cqrs-worker run --log-format json`` on Tansu: python-cqrs envelopes, a failing handler."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from cqrs.serializers.default import default_serializer

from tests.integration.worker.logs_app import (
    FAILING,
    GOOD,
    assert_lines_name_the_message,
    assert_stacktrace,
    run_until_dead_lettered,
    start_worker,
    their_event,
)
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.processes import ProcessSet


async def test_kafka_worker_json_lines_name_the_message_and_log_the_traceback_once(
    kafka_bootstrap: str, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 2)
    await create_topic(kafka_bootstrap, f"{topic_name}.dlq", 1)
    worker = start_worker(
        processes,
        "--kafka-bootstrap",
        kafka_bootstrap,
        "--group-id",
        group_id,
        "--topics",
        topic_name,
        "--no-kafka-idempotence",
        env={
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        },
    )
    await worker.await_line("running: sources kafka", timeout=60)
    failing = their_event(FAILING, fail=True)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic_name, bytes(default_serializer(failing)), key=b"customer-7", partition=1
        )
        await producer.send_and_wait(
            topic_name, bytes(default_serializer(their_event(GOOD, fail=False))), partition=0
        )
    finally:
        await producer.stop()

    entries = await run_until_dead_lettered(worker)

    assert_lines_name_the_message(
        entries,
        failing.event_id,
        {"topic": topic_name, "partition": 1, "offset": sent.offset, "key": "customer-7"},
    )
    [dead] = await read_dead_letters(kafka_bootstrap, f"{topic_name}.dlq")
    assert_stacktrace(dict(dead.headers)["x-dlq-exception-stacktrace"].decode())


async def read_dead_letters(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batch = await consumer.getmany(timeout_ms=10_000, max_records=10)
        return [record for records in batch.values() for record in records]
    finally:
        await consumer.stop()
