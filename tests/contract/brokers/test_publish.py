"""The publishing contract, run on every broker: nothing lost, per-key order, headers."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import AsyncIterator

import orjson
import pytest

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.errors import PublishError
from tests.contract.brokers.harness import (
    AMQPHarness,
    Harness,
    KafkaHarness,
    MemoryHarness,
    sequenced,
)

KEYS = [f"key-{n}" for n in range(10)]


@pytest.fixture(params=["memory", "kafka", "rabbitmq"])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    built: MemoryHarness | KafkaHarness | AMQPHarness
    if request.param == "memory":
        built = MemoryHarness()
    elif request.param == "kafka":
        request.applymarker(pytest.mark.kafka)
        built = KafkaHarness(request.getfixturevalue("kafka_bootstrap"))
    else:
        request.applymarker(pytest.mark.rabbitmq)
        built = AMQPHarness(request.getfixturevalue("rabbitmq_url"))
    await built.setup()
    try:
        yield built
    finally:
        await built.aclose()


async def test_1000_messages_over_10_keys_arrive_once_in_key_order(harness: Harness) -> None:
    events = [sequenced(harness.destination, KEYS[n % 10], n) for n in range(1000)]
    messages = [OutgoingMessage.from_event(e) for e in events]

    for start in range(0, 1000, 100):
        await harness.broker.publish(messages[start : start + 100])
    received = await harness.read(1000, timeout=20)

    ids = Counter(r.headers.get("event_id") for r in received)
    assert len(received) == 1000, f"{len(received)} of 1000 arrived"
    assert set(ids) == {str(e.event_id) for e in events}
    assert max(ids.values()) == 1, "a message arrived twice"
    by_key: defaultdict[str, list[int]] = defaultdict(list)
    for r in received:
        payload = orjson.loads(r.body)["payload"]
        assert r.key in (None, payload["key"]), "the Kafka key is the partition key"
        by_key[payload["key"]].append(payload["seq"])
    assert set(by_key) == set(KEYS)
    for key, seqs in by_key.items():
        assert seqs == sorted(seqs), f"{key} arrived out of order"
    first = next(r for r in received if r.headers["event_id"] == str(events[0].event_id))
    assert first.headers["event_name"] == "Sequenced"
    assert first.headers["content-type"] == "application/json"


async def test_an_empty_batch_publishes_nothing(harness: Harness) -> None:
    await harness.broker.publish([])
    await harness.broker.publish(
        [OutgoingMessage.from_event(sequenced(harness.destination, "k", 1))]
    )

    received = await harness.read(1, timeout=10)

    assert [orjson.loads(r.body)["payload"]["seq"] for r in received] == [1]


async def test_a_broker_not_started_starts_on_its_first_publish(harness: Harness) -> None:
    await harness.replace_broker()

    await harness.broker.publish(
        [OutgoingMessage.from_event(sequenced(harness.destination, "k", 1))]
    )

    received = await harness.read(1, timeout=10)
    assert [orjson.loads(r.body)["payload"]["seq"] for r in received] == [1]


async def test_publish_after_close_raises_publish_error(harness: Harness) -> None:
    await harness.broker.close()

    with pytest.raises(PublishError, match="start"):
        await harness.broker.publish(
            [OutgoingMessage.from_event(sequenced(harness.destination, "k", 1))]
        )
