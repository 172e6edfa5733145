"""R9: 1,000 malformed messages mixed into 10,000 good ones (Kafka).

One worker process (``on_unknown_event=dead-letter``, 4 KiB message limit)
reads them all. Every good event is handled exactly once; every malformed one
lands in ``<topic>.dlq`` with its reason and origin; the worker keeps running
and stops cleanly.
"""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest

from tests.reliability.kafka.conftest import KafkaWorkers, Record, step
from tests.support.waiting import async_wait_until

pytestmark = pytest.mark.reliability

GOOD = 10_000
KEYS = 100
NAME = [("event_name", b"Stepped")]


def malformed(topic: str, n: int) -> tuple[Record, str]:
    """The ``n``-th malformed record (key ``bad-<n>``) and the reason to dead-letter it for."""
    key = f"bad-{n}".encode()
    envelope = orjson.loads(step(topic, "x", n)[0])
    kind = n % 6
    if kind == 0:
        return (b"{this is not json", key, NAME), "not-json"
    if kind == 1:
        return (orjson.dumps(["an", "array"]), key, NAME), "not-an-envelope"
    if kind == 2:
        wrong = {**envelope, "payload": {"key": 7, "seq": "seven"}}
        return (orjson.dumps(wrong), key, NAME), "invalid-payload"
    if kind == 3:
        unknown = {**envelope, "event_name": "NobodyHandlesThis"}
        return (orjson.dumps(unknown), key, [("event_name", b"NobodyHandlesThis")]), "unknown-event"
    if kind == 4:
        return (b'{"event_name": "Stepped", "x": "\xff\xfe\xfd"}', key, NAME), "not-json"
    return (orjson.dumps({**envelope, "pad": "x" * 8000}), key, NAME), "too-large"


async def test_poison_messages_are_dead_lettered_and_good_ones_handled_once(
    kafka_workers_factory: object,
) -> None:
    rig: KafkaWorkers = await kafka_workers_factory(4)  # type: ignore[operator]  # the factory
    good = [step(rig.topic, f"key-{n % KEYS}", n) for n in range(GOOD)]
    bad = [malformed(rig.topic, n) for n in range(1_000)]
    records = good + [record for record, _ in bad]
    random.Random(9).shuffle(records)
    ends = await rig.produce(records)

    worker = rig.start(
        "poisoned",
        concurrency="64",
        on_unknown_event="dead-letter",
        max_message_bytes="4096",
        max_attempts="2",
    )

    await async_wait_until(
        lambda: len(rig.handled("poisoned")) >= GOOD,
        timeout=90,
        message=lambda: f"{len(rig.handled('poisoned'))} of {GOOD} handled",
    )
    dead = await rig.read_dlq(1_000, timeout=60)
    await rig.wait_committed(ends, timeout=30)

    assert worker.running, "the worker never stops"
    worker.terminate()
    assert await worker.wait_async(15) == 0

    handled = Counter(rig.handled("poisoned"))
    assert len(handled) == GOOD
    assert set(handled.values()) == {1}, "every good event handled exactly once"

    expected = {record[1]: reason for record, reason in bad}
    got = {record.key: dict(record.headers)["x-dlq-reason"].decode() for record in dead}
    assert len(dead) == 1_000
    assert got == expected
    for record in dead:
        headers = dict(record.headers)
        assert headers["x-dlq-original-topic"] == rig.topic.encode()
        assert {"x-dlq-original-partition", "x-dlq-original-offset"} <= set(headers)
        assert headers["x-dlq-worker-id"] == b"poisoned"
