"""R11: one stuck partition, or one stuck key, holds back only itself (Kafka).

Partition 0 gets more than ``2 x BATCH_SIZE`` events of one key whose first
event fails for :data:`FAIL_SECONDS` (retried about every second); once that
event failed, partition 1 gets :data:`OTHER_EVENTS` events of many keys. Every event
of partition 1 must be handled while partition 0 is still stuck, with the
default settings, with a small and a large ``BATCH_SIZE``, and with
``CONCURRENCY=1`` (the stuck event waits between its attempts without holding
the only slot). Then partition 0 recovers: everything is handled once, in
order per key, and committed.

And by key: one partition gets 2,500 events of the stuck key, then 2,500 of
other keys; those are all handled while the stuck key still fails (within the
partition's uncommitted bound, 10,000 by default).

Before the flow control fetched by partition, the lanes filled with partition
0's backlog (``2 x BATCH_SIZE``), fetching stopped for every partition, and
after the stall timeout every partition was paused: none of partition 1's
events was handled until partition 0 recovered. And before a delivery gave up
its concurrency slot while it waited to be retried, ``CONCURRENCY=1`` handled
almost nothing else meanwhile (0 to 50 of the 2,500).
"""

from __future__ import annotations

import collections

import pytest

from tests.reliability.kafka.conftest import KafkaWorkers, step
from tests.support.processes import ManagedProcess
from tests.support.waiting import async_wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(90)]

#: The failing key's first event fails for this long after its first attempt.

OTHER_EVENTS = 2_500
FAIL_SECONDS = 10.0


def _start(
    rig: KafkaWorkers, batch_size: str | None = None, concurrency: str | None = None
) -> ManagedProcess:
    rig.app_env.update(
        KAFKA_RELIABILITY_FAIL_KEY="stuck", KAFKA_RELIABILITY_FAIL_SECONDS=str(FAIL_SECONDS)
    )
    settings = {"max_attempts": "1000", "retry_max_delay": "1"}
    if batch_size is not None:  # else the default
        settings["batch_size"] = batch_size
    if concurrency is not None:
        settings["concurrency"] = concurrency
    return rig.start("worker", **settings)


async def _others_handled_while_stuck(rig: KafkaWorkers, others: int = OTHER_EVENTS) -> None:
    def handled_other() -> int:
        return sum(1 for key, _ in rig.handled("worker") if key != "stuck")

    await async_wait_until(
        lambda: handled_other() >= others or ("stuck", 0) in rig.handled("worker"),
        timeout=FAIL_SECONDS + 20,
        message=lambda: f"{handled_other()} of the other {others} events handled",
    )
    assert ("stuck", 0) not in rig.handled("worker"), (
        f"the stuck key recovered first: only {handled_other()} of the other "
        f"{others} events were handled while it was stuck"
    )


async def _everything_handled_once_in_order(
    rig: KafkaWorkers, worker: ManagedProcess, ends: dict[int, int], total: int
) -> None:
    await async_wait_until(
        lambda: len(rig.handled("worker")) >= total,
        timeout=FAIL_SECONDS + 30,
        message=lambda: f"{len(rig.handled('worker'))} of {total} handled",
    )
    await rig.wait_committed(ends, timeout=20)
    worker.terminate()
    assert await worker.wait_async(15) == 0

    handled = rig.handled("worker")
    assert len(handled) == len(set(handled)) == total, "each event handled once"
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for key, seq in handled:
        by_key[key].append(seq)
    assert by_key["stuck"] == list(range(len(by_key["stuck"])))
    assert all(seqs == sorted(seqs) for seqs in by_key.values()), "in order per key"


@pytest.mark.parametrize(
    ("batch_size", "stuck_events", "concurrency", "other_events"),
    [
        (None, 2_500, None, OTHER_EVENTS),
        ("50", 500, None, OTHER_EVENTS),
        ("5000", 2_500, None, OTHER_EVENTS),
        # One at a time the others take most of FAIL_SECONDS on a loaded machine:
        # fewer of them still tell "all handled" from the 0 to 50 handled before.
        ("50", 500, "1", 500),
    ],
    ids=["default", "small", "large", "concurrency-1"],
)
async def test_a_stuck_partition_holds_back_only_itself(
    kafka_workers_factory: object,
    batch_size: str | None,
    stuck_events: int,
    concurrency: str | None,
    other_events: int,
) -> None:
    rig: KafkaWorkers = await kafka_workers_factory(2)  # type: ignore[operator]  # the factory
    stuck = await rig.produce(
        [step(rig.topic, "stuck", seq) for seq in range(stuck_events)], partition=0
    )
    worker = _start(rig, batch_size, concurrency)
    await worker.await_line(r"attempt 1 of Stepped failed", timeout=30)
    others = await rig.produce(
        [step(rig.topic, f"key-{seq % 50}", seq) for seq in range(other_events)], partition=1
    )

    await _others_handled_while_stuck(rig, other_events)
    await _everything_handled_once_in_order(
        rig, worker, {**stuck, **others}, stuck_events + other_events
    )


async def test_a_stuck_key_holds_back_only_itself_within_its_partition(
    kafka_workers_factory: object,
) -> None:
    rig: KafkaWorkers = await kafka_workers_factory(1)  # type: ignore[operator]  # the factory
    await rig.produce([step(rig.topic, "stuck", seq) for seq in range(2_500)])
    worker = _start(rig)
    await worker.await_line(r"attempt 1 of Stepped failed", timeout=30)
    ends = await rig.produce(
        [step(rig.topic, f"key-{seq % 50}", seq) for seq in range(OTHER_EVENTS)]
    )

    await _others_handled_while_stuck(rig)
    await _everything_handled_once_in_order(rig, worker, ends, 2_500 + OTHER_EVENTS)
