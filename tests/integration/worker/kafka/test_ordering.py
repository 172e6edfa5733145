"""ORDERING on Tansu: keyless records, which python-cqrs and many producers send.

``key`` (the default) runs keyless records of a partition one at a time, so
CONCURRENCY buys nothing; ``unordered`` runs them concurrently and still
commits nothing past unfinished work; ``ORDERING_KEY=partition_key`` orders
keyless records by their envelope's key and runs the keys concurrently.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from tests.integration.worker.kafka.harness import KafkaRig, MakeRig, Raw, item, keyless

pytestmark = pytest.mark.timeout(180)

EVENTS = 200
HANDLER_SECONDS = 0.05
CONCURRENCY = 20


async def _handling_seconds(rig: KafkaRig, **options: Any) -> float:
    """Seconds from the first attempt's start to the last one's end, for ``EVENTS`` events."""
    await rig.start(rig.source(concurrency=CONCURRENCY, **options))
    await rig.handled(EVENTS, timeout=90)
    seconds = time.monotonic() - rig.journal.started[0]
    await rig.wait_committed({0: EVENTS}, timeout=30)
    return seconds


async def test_keyless_throughput_scales_with_concurrency_only_when_unordered(
    make_rig: MakeRig,
) -> None:
    events = [item("", f"k{n}", n, seconds=HANDLER_SECONDS) for n in range(EVENTS)]
    serial_rig, unordered_rig = await make_rig(1), await make_rig(1)
    for rig in (serial_rig, unordered_rig):
        await rig.produce([keyless(e.model_copy(update={"topic": rig.topic})) for e in events])

    serial = await _handling_seconds(serial_rig)  # ordering=key: one partition lane
    unordered = await _handling_seconds(unordered_rig, ordering="unordered")

    assert serial_rig.journal.most_running == 1
    assert serial >= EVENTS * HANDLER_SECONDS  # serial: every sleep one after another
    assert 1 < unordered_rig.journal.most_running <= CONCURRENCY
    assert unordered * 5 <= serial, f"unordered {unordered:.2f}s vs key {serial:.2f}s"
    print(
        f"{EVENTS} keyless events x {HANDLER_SECONDS * 1000:.0f} ms, one partition: "
        f"key {serial:.2f}s, unordered (CONCURRENCY={CONCURRENCY}) {unordered:.2f}s"
    )


async def test_unordered_commits_nothing_past_a_stuck_record(make_rig: MakeRig) -> None:
    rig = await make_rig(1)
    events = [item(rig.topic, "", 0), item(rig.topic, "", 1, block=True)]
    events += [item(rig.topic, "", n) for n in range(2, 40)]
    positions = await rig.produce([keyless(e) for e in events])
    stuck = positions[1][1]
    await rig.start(rig.source(ordering="unordered"))

    await rig.handled(39)  # later records finish around the stuck one
    await asyncio.sleep(1.5)  # well past the commit interval: the commit must not move on
    assert await rig.committed() == {0: stuck}
    assert rig.journal.blocked == {("", 1)}

    rig.journal.gate.set()
    await rig.handled(40)
    await rig.wait_committed({0: positions[-1][1] + 1})


async def test_ordering_key_orders_keyless_records_by_their_envelope_key(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(1)
    keys = [f"user-{n}" for n in range(8)]
    events = [item(rig.topic, keys[n % 8], n, seconds=0.01) for n in range(160)]
    # A body that is no envelope finds no key: the partition lane, then the dead letters.
    await rig.produce([keyless(e) for e in events[:80]] + [Raw(b"not json", key=None)])
    await rig.produce([keyless(e) for e in events[80:]])
    await rig.start(rig.source(ordering_key="partition_key"))

    await rig.handled(160, timeout=60)
    [dead] = await rig.read(rig.dlq, 1)
    assert dead.value == b"not json"
    for key in keys:
        assert rig.journal.seqs(key) == sorted(rig.journal.seqs(key)), key
    assert rig.journal.most_running > 1  # the keys ran side by side
    await rig.wait_committed({0: 161})
    assert len(rig.journal.handled) == 160
