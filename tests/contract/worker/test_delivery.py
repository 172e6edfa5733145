"""Delivery: an event reaches its handler typed and intact, on every topic, exactly once."""

from __future__ import annotations

from collections import Counter

from tests.contract.worker.transports import Numbered, Recorder, Transport, numbered
from tests.support.waiting import async_wait_until


async def test_an_event_reaches_its_handler_typed_with_its_id_and_key(
    transport: Transport,
) -> None:
    [topic] = await transport.topics(1)
    recorder = Recorder()
    sent = numbered(topic, "customer-7", 1)

    async with transport.running(recorder, [topic]) as worker:
        await transport.publish([sent])
        await async_wait_until(lambda: len(recorder.handled) == 1, timeout=15)

    [got] = recorder.handled
    assert type(got) is Numbered
    assert got.event_id == sent.event_id
    assert got.partition_key == "customer-7"
    assert got.payload == sent.payload
    assert got.event_name == sent.event_name
    assert worker.stats.dead_lettered == 0


async def test_one_worker_handles_every_event_of_twenty_topics_exactly_once(
    transport: Transport,
) -> None:
    topics = await transport.topics(20)
    recorder = Recorder()
    events = [numbered(topic, f"k{i % 5}", i) for topic in topics for i in range(100)]

    async with transport.running(recorder, topics, concurrency=16) as worker:
        await transport.publish(events)
        await async_wait_until(
            lambda: len(recorder.handled) >= len(events),
            timeout=30,
            message=lambda: f"{len(recorder.handled)} of {len(events)} handled",
        )

    handled = Counter(str(event.event_id) for event in recorder.handled)
    assert handled == Counter(str(event.event_id) for event in events)
    assert Counter(event.topic for event in recorder.handled) == dict.fromkeys(topics, 100)
    assert worker.stats.dead_lettered == 0
