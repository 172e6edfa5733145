"""KafkaSource commits: never past unfinished work, on revoke, on shutdown, across restarts."""

from __future__ import annotations

import asyncio

from tests.integration.worker.kafka.harness import KafkaRig, MakeRig, item
from tests.support.waiting import async_wait_until

#: Tansu answers the first rejoin of an emptied group after ~2 session timeouts.
QUICK_REJOIN = {"session_timeout_ms": 1000, "heartbeat_interval_ms": 300}


async def test_a_slow_message_holds_back_its_partitions_commit_while_other_keys_finish(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(1)
    events = [item(rig.topic, "fast-a", 0), item(rig.topic, "slow", 1, block=True)]
    events += [item(rig.topic, ("fast-a", "fast-b")[n % 2], n) for n in range(2, 40)]
    positions = await rig.produce(events)
    slow_offset = positions[1][1]
    await rig.start()

    await rig.handled(39)  # everything but the slow one
    await asyncio.sleep(1.5)  # well past the commit interval: the commit must not move on

    assert await rig.committed() == {0: slow_offset}
    assert rig.journal.blocked == {("slow", 1)}

    rig.journal.gate.set()
    await rig.handled(40)
    await rig.wait_committed({0: positions[-1][1] + 1})


async def test_a_restarted_source_resumes_after_the_committed_offset(rig: KafkaRig) -> None:
    await rig.produce([item(rig.topic, f"k{n % 4}", n) for n in range(100)])
    first = await rig.start(rig.source(consumer_options=QUICK_REJOIN))
    await rig.handled(100)
    await rig.stop(first)

    await rig.produce([item(rig.topic, f"k{n % 4}", n) for n in range(100, 150)])
    await rig.start(rig.source(consumer_options=QUICK_REJOIN))
    await rig.handled(150)
    await asyncio.sleep(1.0)  # room for a wrong redelivery to show up

    assert sorted(seq for _, seq in rig.journal.handled) == list(range(150))


async def test_shutdown_commits_finished_work_and_cancelled_work_is_redelivered(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(1)
    events = [item(rig.topic, "a", n) for n in range(10)]
    events.append(item(rig.topic, "stuck", 10, block=True))
    events += [item(rig.topic, "b", n) for n in range(11, 20)]
    positions = await rig.produce(events)
    stuck_offset = positions[10][1]
    source = await rig.start(rig.source(consumer_options=QUICK_REJOIN))
    await rig.handled(19)
    await async_wait_until(lambda: rig.journal.blocked == {("stuck", 10)}, timeout=5)

    began = asyncio.get_running_loop().time()
    await rig.stop(source, timeout=0.5)
    assert asyncio.get_running_loop().time() - began < 5

    assert await rig.committed() == {0: stuck_offset}
    assert ("stuck", 10) not in rig.journal.handled

    rig.journal.gate.set()
    await rig.start(rig.source(consumer_options=QUICK_REJOIN))
    await rig.handled(20)
    await rig.wait_committed({0: positions[-1][1] + 1})
    handled = [seq for _, seq in rig.journal.handled]
    assert handled.count(10) == 1
    # everything after the stuck message is redelivered (at least once)
    assert set(handled[19:]) == set(range(10, 20))


async def test_a_joining_member_takes_partitions_after_the_revoked_work_is_committed(
    rig: KafkaRig,
) -> None:
    keys = [f"key-{n}" for n in range(16)]
    await rig.produce([item(rig.topic, keys[n % 16], n) for n in range(200)])
    first = await rig.start()
    await rig.handled(200)

    second = await rig.start()  # the group rebalances: first gives up some partitions
    await async_wait_until(lambda: first.ready() and second.ready(), timeout=20)
    positions = await rig.produce([item(rig.topic, keys[n % 16], n) for n in range(200, 400)])
    await rig.handled(400)

    ends: dict[int, int] = {}
    for partition, offset in positions:
        ends[partition] = max(ends.get(partition, 0), offset + 1)
    await rig.wait_committed(dict(ends))
    assert sorted({seq for _, seq in rig.journal.handled}) == list(range(400))
    for key in keys:
        seqs = rig.journal.seqs(key)
        assert seqs == sorted(seqs), key


async def test_a_revoke_cancels_stuck_work_commits_the_finished_prefix_and_it_is_redelivered(
    make_rig: MakeRig,
) -> None:
    rig = await make_rig(1)
    events = [item(rig.topic, "a", n) for n in range(5)]
    events.append(item(rig.topic, "stuck", 5, block=True))
    events += [item(rig.topic, "b", n) for n in range(6, 10)]
    positions = await rig.produce(events)
    await rig.start()
    await rig.handled(9)
    await async_wait_until(lambda: rig.journal.blocked == {("stuck", 5)}, timeout=5)

    await rig.start()  # a second member: the first one's partition is revoked and drained
    await async_wait_until(lambda: rig.journal.attempts["stuck", 5] == 2, timeout=20)

    assert await rig.committed() == {0: positions[5][1]}
    assert ("stuck", 5) not in rig.journal.handled
    rig.journal.gate.set()
    await rig.wait_committed({0: positions[-1][1] + 1})
    assert rig.journal.handled.count(("stuck", 5)) == 1
