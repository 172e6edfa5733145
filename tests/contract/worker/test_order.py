"""Per-key order: whatever the concurrency, one key's events are handled in the order written."""

from __future__ import annotations

from collections import defaultdict

from tests.contract.worker.transports import Recorder, Transport, numbered
from tests.support.waiting import async_wait_until

KEYS = 16
EVENTS = 1_000


async def test_events_of_one_key_are_handled_in_order_under_concurrency(
    transport: Transport,
) -> None:
    [topic] = await transport.topics(1, partitions=4)
    recorder = Recorder(jitter=0.002)
    events = [numbered(topic, f"key-{i % KEYS}", i // KEYS) for i in range(EVENTS)]

    async with transport.running(recorder, [topic], concurrency=16):
        await transport.publish(events)
        await async_wait_until(
            lambda: len(recorder.handled) >= EVENTS,
            timeout=30,
            message=lambda: f"{len(recorder.handled)} of {EVENTS} handled",
        )

    seqs: dict[str, list[int]] = defaultdict(list)
    for event in recorder.handled:
        seqs[event.payload.key].append(event.payload.seq)
    expected = list(range(EVENTS // KEYS + (1 if EVENTS % KEYS else 0)))
    for index in range(KEYS):
        key = f"key-{index}"
        count = len([i for i in range(EVENTS) if i % KEYS == index])
        assert seqs[key] == expected[:count], key
