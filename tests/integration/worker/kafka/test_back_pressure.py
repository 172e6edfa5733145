"""KafkaSource back-pressure: bounded memory while handlers are stuck, membership kept."""

from __future__ import annotations

import asyncio
from collections import Counter

from tests.integration.worker.kafka.harness import KafkaRig, MakeRig, item


async def test_stuck_handlers_stop_the_fetching_without_losing_the_group(rig: KafkaRig) -> None:
    # max_poll_interval_ms of 4 s: the wait turns into paused polling after 1 s,
    # and the member must still be in the group well after 4 s.
    await rig.produce([item(rig.topic, f"k{n % 8}", n, block=True) for n in range(600)])
    options = {"max_poll_interval_ms": 4000, "session_timeout_ms": 2000}
    source = rig.source(max_pending=50, batch_size=20, consumer_options=options)
    await rig.start(source)

    await asyncio.sleep(5.0)  # longer than max_poll_interval_ms, on purpose

    assert rig.stats.received <= 50 + 20
    assert source.ready()
    rig.journal.gate.set()
    await rig.handled(600, timeout=30)
    assert Counter(rig.journal.attempts.values()) == {1: 600}, "nothing was redelivered"


async def test_a_stuck_head_pauses_its_partition_at_the_uncommitted_bound(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(1)
    events = [item(rig.topic, "head", 0, block=True)]
    events += [item(rig.topic, f"k{n % 4}", n) for n in range(1, 300)]
    await rig.produce(events)
    await rig.start(rig.source(max_uncommitted=40, max_pending=1000, batch_size=10))

    await rig.handled(39)
    await asyncio.sleep(1.0)  # several fetch rounds: the partition stays paused

    assert rig.stats.received <= 40 + 10
    assert rig.journal.blocked == {("head", 0)}
    rig.journal.gate.set()
    await rig.handled(300, timeout=30)
    assert rig.stats.received == 300
