"""KafkaSource on a real broker: what happens to each kind of message."""

from __future__ import annotations

import orjson

from tests.integration.worker.kafka.harness import WORKER_ID, KafkaRig, MakeRig, Raw, item
from tests.support.waiting import async_wait_until

DLQ_HEADERS = {
    "x-dlq-reason",
    "x-dlq-exception-type",
    "x-dlq-exception-message",
    "x-dlq-exception-stacktrace",
    "x-dlq-attempts",
    "x-dlq-first-failure-at",
    "x-dlq-last-failure-at",
    "x-dlq-worker-id",
    "x-dlq-original-topic",
    "x-dlq-original-partition",
    "x-dlq-original-offset",
}


async def test_events_are_handled_once_in_key_order_and_committed(rig: KafkaRig) -> None:
    keys = [f"key-{n}" for n in range(8)]
    positions = await rig.produce([item(rig.topic, keys[n % 8], n) for n in range(400)])
    source = await rig.start()

    await rig.handled(400)
    await rig.wait_committed(_ends(positions, rig.partitions))

    assert sorted(rig.journal.handled) == sorted((keys[n % 8], n) for n in range(400))
    for key in keys:
        assert rig.journal.seqs(key) == sorted(rig.journal.seqs(key)), key
    assert rig.stats.received == 400
    assert rig.stats.handled == 400
    assert source.ready()


async def test_keyless_records_keep_their_partition_order(make_rig: MakeRig) -> None:
    rig = await make_rig(1)
    events = [item(rig.topic, "", n).model_copy(update={"partition_key": None}) for n in range(50)]
    await rig.produce(events)
    await rig.start(rig.source(concurrency=32))

    await rig.handled(50)

    assert [seq for _, seq in rig.journal.handled] == list(range(50))


async def test_a_failing_handler_is_retried_then_dead_lettered_with_every_header(
    rig: KafkaRig,
) -> None:
    bad = item(rig.topic, "k-bad", 7, fail=True)
    [(partition, offset)] = await rig.produce([bad])
    await rig.produce([item(rig.topic, "k-good", n) for n in range(5)])
    await rig.start()

    [record] = await rig.read(rig.dlq, 1)
    await rig.handled(5)

    headers = {name: value.decode() for name, value in record.headers}
    assert set(headers) >= DLQ_HEADERS
    assert headers["x-dlq-reason"] == "handler-failed"
    assert headers["x-dlq-exception-type"] == "builtins.RuntimeError"
    assert headers["x-dlq-exception-message"] == "cannot handle k-bad#7"
    assert headers["x-dlq-attempts"] == "3"
    assert headers["x-dlq-first-failure-at"] <= headers["x-dlq-last-failure-at"]
    assert headers["x-dlq-worker-id"] == WORKER_ID
    assert headers["x-dlq-original-topic"] == rig.topic
    assert headers["x-dlq-original-partition"] == str(partition)
    assert headers["x-dlq-original-offset"] == str(offset)
    assert headers["event_name"] == "Item"  # the original headers travel along
    assert headers["event_id"] == str(bad.event_id)
    assert record.key == b"k-bad"
    assert orjson.loads(record.value)["payload"] == {
        "key": "k-bad",
        "seq": 7,
        "fail": True,
        "block": False,
        "seconds": 0.0,
    }
    assert rig.journal.attempts["k-bad", 7] == 3
    assert rig.stats.retried == 2
    assert rig.stats.dead_lettered == 1


async def test_malformed_messages_go_to_the_dead_letter_topic_at_once(rig: KafkaRig) -> None:
    name = [("event_name", b"Item")]
    envelope = orjson.loads(orjson.dumps(item(rig.topic, "k", 1).model_dump(mode="json")))
    wrong_types = {**envelope, "payload": {"key": "k", "seq": "not a number"}}
    malformed = {
        "not-json": Raw(b"{not json", key=b"a", headers=name),
        "not-an-envelope": Raw(b"[1, 2, 3]", key=b"b", headers=name),
        "invalid-payload": Raw(orjson.dumps(wrong_types), key=b"c", headers=name),
        "too-large": Raw(b" " * 20_000, key=b"d", headers=name),
        "invalid utf-8": Raw(b'{"event_name": "\xff\xfe"}', key=b"\xff\x00e"),
    }
    await rig.produce(list(malformed.values()))
    await rig.start()

    records = await rig.read(rig.dlq, len(malformed))

    reasons = sorted(dict(r.headers)["x-dlq-reason"].decode() for r in records)
    assert reasons == sorted(
        ["not-json", "not-an-envelope", "invalid-payload", "too-large", "not-json"]
    )
    binary = next(r for r in records if r.key == b"\xff\x00e")
    assert binary.value == b'{"event_name": "\xff\xfe"}'  # byte for byte
    assert all(dict(r.headers)["x-dlq-attempts"] == b"0" for r in records)
    assert rig.journal.attempts == {}
    assert rig.stats.retried == 0


async def test_an_unknown_event_is_acknowledged_and_counted(rig: KafkaRig) -> None:
    unknown = orjson.dumps(
        {**item(rig.topic, "k", 1).model_dump(mode="json"), "event_name": "Nope"}
    )
    positions = await rig.produce([Raw(unknown, key=b"k", partition=0)])
    positions += await rig.produce([item(rig.topic, "k", 2)])
    await rig.start()

    await rig.handled(1)
    await async_wait_until(lambda: rig.stats.unknown == 1, timeout=5)
    await rig.wait_committed(_ends(positions, rig.partitions))

    assert rig.stats.dead_lettered == 0
    assert await rig.read(rig.dlq, 1, timeout=1) == []


async def test_an_unknown_event_is_dead_lettered_when_the_policy_says_so(rig: KafkaRig) -> None:
    unknown = orjson.dumps(
        {**item(rig.topic, "k", 1).model_dump(mode="json"), "event_name": "Nope"}
    )
    await rig.produce([Raw(unknown, key=b"k", headers=[("event_name", b"Nope")])])
    await rig.start(rig.source(on_unknown_event="dead-letter"))

    [record] = await rig.read(rig.dlq, 1)

    assert dict(record.headers)["x-dlq-reason"] == b"unknown-event"
    assert rig.stats.unknown == 0


def _ends(positions: list[tuple[int, int]], partitions: int) -> dict[int, int | None]:
    """The committed position once everything produced is finished."""
    ends: dict[int, int | None] = dict.fromkeys(range(partitions))
    for partition, offset in positions:
        ends[partition] = max(ends[partition] or 0, offset + 1)
    return ends
