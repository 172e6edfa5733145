"""Nothing lost on close: a worker stopped while publishers run; the next one handles the rest."""

from __future__ import annotations

import asyncio

from tests.contract.worker.transports import Numbered, Recorder, Transport, numbered
from tests.support.waiting import async_wait_until

PUBLISHERS = 20
PER_PUBLISHER = 500
TOTAL = PUBLISHERS * PER_PUBLISHER


async def test_everything_published_is_handled_across_a_graceful_stop(
    transport: Transport,
) -> None:
    [topic] = await transport.topics(1, partitions=4)
    recorder = Recorder()
    batches = [
        [numbered(topic, f"p{p}-k{i % 4}", i) for i in range(PER_PUBLISHER)]
        for p in range(PUBLISHERS)
    ]
    published = {str(event.event_id) for batch in batches for event in batch}

    async def publish(batch: list[Numbered]) -> None:
        for start in range(0, len(batch), 50):
            await transport.publish(batch[start : start + 50])

    # Small fetches, so the stop lands while most of the stream is still unread.
    async with transport.running(recorder, [topic], concurrency=16, batch_size=50):
        publishers = [asyncio.create_task(publish(list(batch))) for batch in batches]
        await async_wait_until(
            lambda: len(recorder.ids()) >= TOTAL // 4,
            timeout=30,
            message=lambda: f"{len(recorder.ids())} of {TOTAL // 4} handled before the stop",
        )
    await asyncio.gather(*publishers)

    async with transport.running(recorder, [topic], concurrency=16):
        await async_wait_until(
            lambda: len(recorder.ids()) >= TOTAL,
            timeout=30,
            message=lambda: f"{len(recorder.ids())} of {TOTAL} distinct events handled",
        )

    assert recorder.ids() == published
