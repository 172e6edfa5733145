"""Tansu starts, answers as itself, and round-trips keyed messages through a consumer group."""

from __future__ import annotations

import asyncio
import os
from collections import defaultdict
from typing import Any

import pytest
from aiokafka import (  # type: ignore[import-untyped, unused-ignore]
    AIOKafkaConsumer,
    AIOKafkaProducer,
    TopicPartition,
)

from tests.support.kafka import (
    FAST_GROUP_SETTINGS,
    KafkaProbeError,
    TansuBroker,
    create_topic,
    probe_kafka,
    unique_topic,
    wait_for_kafka,
)
from tests.support.net import parse_host_port
from tests.support.waiting import wait_until

Record = tuple[int, str, str]  # partition, key, value


async def _consume(consumer: Any, count: int) -> list[Record]:
    records: list[Record] = []
    try:
        async with asyncio.timeout(15.0):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=200)
                for tp, messages in batches.items():
                    records += [(tp.partition, m.key.decode(), m.value.decode()) for m in messages]
    except TimeoutError:
        pytest.fail(f"got {len(records)} of {count} records: {records}")
    return records


async def _produce(bootstrap: str, topic: str, items: list[tuple[str, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for key, value in items:
            await producer.send_and_wait(topic, value.encode(), key=key.encode())
    finally:
        await producer.stop()


def _by_key(records: list[Record]) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = defaultdict(list)
    for _, key, value in records:
        grouped[key].append(value)
    return dict(grouped)


def test_session_broker_answers_kafka_requests(kafka_bootstrap: str) -> None:
    info = wait_for_kafka(kafka_bootstrap, timeout=5.0)
    assert info.brokers
    if "CQRS_WORKER_TEST_KAFKA" not in os.environ:
        assert info.cluster_id is not None
        assert info.cluster_id.startswith("cqrs-worker-test-")
        assert [b.address for b in info.brokers] == [kafka_bootstrap]


async def test_keyed_produce_and_group_consume_with_manual_commit(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    await create_topic(kafka_bootstrap, topic_name, partitions=3)
    first = [(f"key-{i % 4}", f"first-{i}") for i in range(12)]
    await _produce(kafka_bootstrap, topic_name, first)

    settings: dict[str, Any] = {
        "bootstrap_servers": kafka_bootstrap,
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        **FAST_GROUP_SETTINGS,
    }
    consumer = AIOKafkaConsumer(topic_name, **settings)
    await consumer.start()
    try:
        records = await _consume(consumer, len(first))
        await consumer.commit()
    finally:
        await consumer.stop()

    # Same key -> same partition, in the order written.
    partitions_by_key: dict[str, set[int]] = defaultdict(set)
    for partition, key, _ in records:
        partitions_by_key[key].add(partition)
    assert all(len(parts) == 1 for parts in partitions_by_key.values()), partitions_by_key
    assert _by_key(records) == _by_key([(0, k, v) for k, v in first])

    # The next consumer of the group resumes after the committed offsets. It
    # takes the partitions by assign(): that reads the group's committed
    # offsets without a second JoinGroup, which Tansu answers only after
    # ~2 x session_timeout_ms for a group's first rejoin (see tests/support/kafka.py).
    second = [(f"key-{i % 4}", f"second-{i}") for i in range(4)]
    await _produce(kafka_bootstrap, topic_name, second)
    consumer = AIOKafkaConsumer(**settings)
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic_name, p) for p in range(3)])
        resumed = await _consume(consumer, len(second))
    finally:
        await consumer.stop()
    assert sorted(value for _, _, value in resumed) == sorted(v for _, v in second)


async def test_create_topic_rejects_an_existing_topic(kafka_bootstrap: str) -> None:
    name = unique_topic("dup")
    assert await create_topic(kafka_bootstrap, name, partitions=2) == name
    with pytest.raises(RuntimeError, match="error 36"):
        await create_topic(kafka_bootstrap, name, partitions=2)


def test_pause_freezes_and_resume_thaws_the_broker(tansu: TansuBroker) -> None:
    host, port = parse_host_port(tansu.bootstrap)
    assert probe_kafka(host, port).cluster_id == tansu.cluster_id
    tansu.pause()
    try:
        with pytest.raises(OSError, match="timed out"):
            probe_kafka(host, port, timeout=0.3)
    finally:
        tansu.resume()
    assert probe_kafka(host, port, timeout=5.0).cluster_id == tansu.cluster_id


def test_stop_ends_the_broker_process() -> None:
    broker = TansuBroker().start()
    pid = broker.pid
    host, port = parse_host_port(broker.bootstrap)
    broker.pause()  # stop() must work on a frozen broker too
    broker.stop()
    broker.stop()  # idempotent
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    with pytest.raises((OSError, KafkaProbeError)):
        probe_kafka(host, port, timeout=0.5)


def test_a_port_held_by_another_process_is_not_mistaken_for_the_broker(
    tansu: TansuBroker,
) -> None:
    # A second broker asked to listen on a taken port must fail, not "start"
    # by answering with the first one's Metadata.
    other = TansuBroker(port=tansu.port, startup_timeout=5.0)
    with pytest.raises(Exception, match=r"exited|another cluster"):
        other.start()
    other.stop()
    wait_until(lambda: tansu.process.running, timeout=1.0, message="first broker died")
