"""Redelivery: an event whose handler fails twice succeeds on its third attempt."""

from __future__ import annotations

from collections import Counter

from tests.contract.worker.transports import Recorder, Transport, numbered
from tests.support.waiting import async_wait_until


async def test_events_failing_twice_are_handled_once_on_the_third_attempt(
    transport: Transport,
) -> None:
    [topic] = await transport.topics(1, partitions=2)
    events = [numbered(topic, f"k{i % 8}", i) for i in range(100)]
    flaky = {str(event.event_id) for event in events[::5]}
    recorder = Recorder(failures=dict.fromkeys(flaky, 2))

    async with transport.running(recorder, [topic], concurrency=16, max_attempts=3) as worker:
        await transport.publish(events)
        await async_wait_until(
            lambda: len(recorder.handled) >= len(events),
            timeout=30,
            message=lambda: f"{len(recorder.handled)} of {len(events)} handled; {worker.stats}",
        )

    assert Counter(str(e.event_id) for e in recorder.handled) == Counter(
        str(e.event_id) for e in events
    )
    assert all(recorder.attempts[event_id] == 3 for event_id in flaky)
    assert worker.stats.dead_lettered == 0
    assert worker.stats.retried == 2 * len(flaky)
