"""KafkaMessageBroker against a real Kafka-protocol broker (Tansu unless CQRS_WORKER_TEST_KAFKA)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import orjson
import pytest
from aiokafka.partitioner import DefaultPartitioner

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from cqrs_worker.errors import PublishError
from tests.contract.brokers.harness import (
    KafkaHarness,
    kafka_broker,
    kafka_grants_producer_ids,
    publish_within,
    read_kafka,
    sequenced,
)
from tests.support.kafka import TansuBroker, create_topic
from tests.support.net import LOOPBACK, free_port, silent_server
from tests.support.proxy import ProxiedTansu


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> AsyncIterator[KafkaHarness]:
    harness = KafkaHarness(kafka_bootstrap)
    await harness.setup()
    try:
        yield harness
    finally:
        await harness.aclose()


async def test_the_key_is_the_utf8_partition_key_and_headers_are_bytes(
    kafka: KafkaHarness, kafka_bootstrap: str
) -> None:
    keyed = [sequenced(kafka.destination, "clé-7", n) for n in range(20)]
    unkeyed = sequenced(kafka.destination, "x", 99).model_copy(update={"partition_key": None})

    await kafka.broker.publish([OutgoingMessage.from_event(e) for e in [*keyed, unkeyed]])
    records = await read_kafka(kafka_bootstrap, kafka.destination, 21, timeout=10)

    with_key = [r for r in records if r.key is not None]
    assert {r.key for r in with_key} == {"clé-7"}
    assert len({r.partition for r in with_key}) == 1, "one key, one partition"
    assert [r.headers["event_id"] for r in with_key] == [str(e.event_id) for e in keyed]
    (plain,) = [r for r in records if r.key is None]
    assert plain.raw_headers == (
        ("event_name", b"Sequenced"),
        ("event_id", str(unkeyed.event_id).encode()),
        ("content-type", b"application/json"),
    )


async def test_compressed_batches_arrive(kafka_bootstrap: str, topic_name: str) -> None:
    await create_topic(kafka_bootstrap, topic_name, 2)
    broker = kafka_broker(kafka_bootstrap, compression_type="gzip")
    await broker.start()
    try:
        await broker.publish(
            [OutgoingMessage.from_event(sequenced(topic_name, "k", n)) for n in range(50)]
        )
    finally:
        await broker.close()
    assert len(await read_kafka(kafka_bootstrap, topic_name, 50, timeout=10)) == 50


async def test_an_unreachable_cluster_fails_start_quickly() -> None:
    broker = KafkaMessageBroker(kafka_producer_factory(f"{LOOPBACK}:{free_port()}"))
    began = time.monotonic()

    with pytest.raises(PublishError, match="cannot start the Kafka producer"):
        await broker.start()

    assert time.monotonic() - began < 5


async def test_a_server_that_never_answers_fails_start_within_the_timeout() -> None:
    async with silent_server() as port:
        broker = KafkaMessageBroker(kafka_producer_factory(f"{LOOPBACK}:{port}"), start_timeout=1)
        began = time.monotonic()
        with pytest.raises(PublishError, match="timed out"):
            await broker.start()
        assert time.monotonic() - began < 4


@pytest.mark.skipif(kafka_grants_producer_ids(), reason="only Tansu lacks producer ids")
async def test_a_broker_without_producer_ids_fails_the_idempotent_default_clearly(
    kafka_bootstrap: str,
) -> None:
    broker = KafkaMessageBroker(kafka_producer_factory(kafka_bootstrap))

    with pytest.raises(PublishError, match="enable_idempotence=False"):
        await broker.start()


async def test_a_cut_connection_fails_publish_then_recovers(
    kafka_via_proxy: ProxiedTansu, topic_name: str
) -> None:
    bootstrap = kafka_via_proxy.bootstrap
    await create_topic(bootstrap, topic_name, 2)
    broker = kafka_broker(bootstrap, request_timeout_ms=1500, retry_backoff_ms=50)
    await broker.start()
    try:
        await broker.publish([OutgoingMessage.from_event(sequenced(topic_name, "k", 0))])
        kafka_via_proxy.proxy.cut()
        began = time.monotonic()
        with pytest.raises(PublishError, match=topic_name):
            await broker.publish([OutgoingMessage.from_event(sequenced(topic_name, "k", 1))])
        assert time.monotonic() - began < 10
        kafka_via_proxy.proxy.restore()
        await publish_within(
            broker, [OutgoingMessage.from_event(sequenced(topic_name, "k", 2))], timeout=15
        )
    finally:
        kafka_via_proxy.proxy.restore()
        await broker.close()
    # 2 or 3 records (the failed publish may have reached the log): read what is there.
    records = await read_kafka(bootstrap, topic_name, 3, timeout=1.5)
    seqs = [orjson.loads(r.value)["payload"]["seq"] for r in records]
    assert {0, 2} <= set(seqs), "a confirmed message was lost"
    assert seqs == sorted(seqs)


async def test_a_frozen_broker_fails_publish_within_publish_timeout(
    tansu: TansuBroker, topic_name: str
) -> None:
    await create_topic(tansu.bootstrap, topic_name, 1)
    broker = kafka_broker(tansu.bootstrap, publish_timeout=1)
    await broker.start()
    tansu.pause()
    try:
        began = time.monotonic()
        with pytest.raises(PublishError, match="timed out"):
            await broker.publish([OutgoingMessage.from_event(sequenced(topic_name, "k", 1))])
        assert time.monotonic() - began < 4
    finally:
        tansu.resume()
        await broker.close()


async def test_per_key_order_holds_across_many_small_batches(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 8)
    broker = kafka_broker(kafka_bootstrap, max_batch_size=1024, linger_ms=0)
    keys = [f"key-{n}" for n in range(16)]
    await broker.start()
    try:
        await broker.publish(
            [
                OutgoingMessage.from_event(sequenced(topic_name, keys[n % 16], n))
                for n in range(2000)
            ]
        )
    finally:
        await broker.close()

    records = await read_kafka(kafka_bootstrap, topic_name, 2000, timeout=15)

    assert len(records) == 2000
    by_key: dict[str, list[int]] = {}
    for record in records:
        assert record.key is not None
        by_key.setdefault(record.key, []).append(orjson.loads(record.value)["payload"]["seq"])
    assert all(seqs == sorted(seqs) for seqs in by_key.values())
    assert len({r.partition for r in records}) > 1


async def test_each_key_lands_on_the_partition_send_would_pick(
    kafka_bootstrap: str, topic_name: str
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 4)
    broker = kafka_broker(kafka_bootstrap)
    keys = [f"key-{n}" for n in range(40)]
    await broker.start()
    try:
        # Twice: the second publish answers from the broker's partition cache.
        for round_ in range(2):
            await broker.publish(
                [OutgoingMessage.from_event(sequenced(topic_name, k, round_)) for k in keys]
            )
    finally:
        await broker.close()

    records = await read_kafka(kafka_bootstrap, topic_name, 80, timeout=10)

    assert len(records) == 80
    partitions = [0, 1, 2, 3]
    for record in records:
        assert record.key is not None
        expected = DefaultPartitioner()(record.key.encode(), partitions, partitions)
        assert record.partition == expected, record.key
