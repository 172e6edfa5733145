"""Consumer groups: two groups over the same topic each handle every event."""

from __future__ import annotations

from tests.contract.worker.transports import Recorder, Transport, numbered
from tests.support.waiting import async_wait_until


async def test_two_consumer_groups_each_see_every_event(broker_transport: Transport) -> None:
    [topic] = await broker_transport.topics(1, partitions=2)
    other = broker_transport.sibling()
    first, second = Recorder(), Recorder()
    events = [numbered(topic, f"k{i % 4}", i) for i in range(200)]
    published = {str(event.event_id) for event in events}

    async with (
        broker_transport.running(first, [topic]),
        other.running(second, [topic]),
    ):
        await broker_transport.publish(events)
        await async_wait_until(
            lambda: first.ids() == published and second.ids() == published,
            timeout=30,
            message=lambda: f"groups handled {len(first.ids())} and {len(second.ids())} of 200",
        )

    assert len(first.handled) == len(second.handled) == len(events)
