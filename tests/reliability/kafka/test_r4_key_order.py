"""R4: per-key order under concurrency, with a rebalance in the middle (Kafka).

32 keys with sequence numbers, 8 partitions, one worker process with
concurrency 32 whose handlers sleep 0-50 ms (keys interleave, and one key's
events take seconds); a second process joins once an eighth is handled, so
the group rebalances with queued and running work in every partition, and the
second half of the events is produced after it. Each process's handled log
must keep every key strictly in order (a replay after the rebalance restarts
from the committed offset, so it is a contiguous run again), and every event
must be handled by some process: a commit that skipped an unfinished message
would lose it when its partition moved.
"""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from tests.reliability.kafka.conftest import KafkaWorkers, Record, step
from tests.support.waiting import async_wait_until

pytestmark = pytest.mark.reliability

PARTITIONS = 8
KEYS = 32
ROUNDS = 150  # events per key
SETTINGS = {"concurrency": "32", "batch_size": "50", "shutdown_timeout": "5"}
#: Handlers sleep up to 50 ms: one key's 150 events take seconds, so the
#: rebalance meets queued and running work in every partition.
DELAY = 0.05


async def test_per_key_order_holds_across_a_rebalance(kafka_workers_factory: object) -> None:
    rig: KafkaWorkers = await kafka_workers_factory(PARTITIONS)  # type: ignore[operator]  # factory
    keys = [f"key-{n:02d}" for n in range(KEYS)]
    first = rig.start("first", delay=DELAY, **SETTINGS)
    await first.await_line("partitions assigned", timeout=30)

    ends: dict[int, int] = {}

    async def produce(rounds: range) -> None:
        batch: list[Record] = [step(rig.topic, key, seq) for seq in rounds for key in keys]
        for partition, end in (await rig.produce(batch)).items():
            ends[partition] = max(ends.get(partition, 0), end)

    await produce(range(ROUNDS // 2))
    await async_wait_until(lambda: len(rig.handled("first")) >= KEYS * ROUNDS // 8, timeout=60)
    second = rig.start("second", delay=DELAY, **SETTINGS)
    await first.await_line("revoked", timeout=30)
    await produce(range(ROUNDS // 2, ROUNDS))
    await second.await_line("partitions assigned: .+\\[", timeout=30)

    expected = {(key, seq) for key in keys for seq in range(ROUNDS)}
    await async_wait_until(
        lambda: set(rig.handled_by_all()) >= expected,
        timeout=60,
        message=lambda: f"missing {sorted(expected - set(rig.handled_by_all()))[:10]}",
    )
    await rig.wait_committed(ends, timeout=30)
    for worker in (first, second):
        worker.terminate()
        assert await worker.wait_async(15) == 0

    assert rig.handled("second"), "the second worker took partitions and handled events"
    for name in ("first", "second"):
        for key, seqs in _by_key(rig.handled(name)).items():
            _assert_contiguous_runs(name, key, seqs)


def _by_key(handled: list[tuple[str, int]]) -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for key, seq in handled:
        by_key[key].append(seq)
    return by_key


def _assert_contiguous_runs(worker: str, key: str, seqs: list[int]) -> None:
    """Each run goes up by exactly one; a new run (a replay) may start lower, never skip."""
    for previous, current in itertools.pairwise(seqs):
        if current <= previous:
            continue  # a replay from the committed offset starts a new run
        assert current == previous + 1, f"{worker}: {key} went from {previous} to {current}"
