"""R6: one event id delivered 3 times within 50 ms, to two worker processes: one effect."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.reliability.inbox.conftest import Rig
from tests.support.waiting import async_wait_until

EVENTS = 200
COPIES = 3


@pytest.mark.parametrize("batch", [1, 50])
@pytest.mark.parametrize("rig", ["postgres", "mariadb"], indirect=True)
async def test_copies_of_one_event_take_effect_once(rig: Rig, batch: int) -> None:
    workers = [rig.start_worker(batch=batch) for _ in range(2)]
    for worker in workers:
        worker.wait_for_line("running", timeout=60)
    events = []
    for i in range(EVENTS):
        event = rig.event(f"user-{i}")
        # Same event id, different keys: the copies land on different partitions,
        # so both processes may handle them at the same moment.
        events += [
            event.model_copy(update={"partition_key": f"user-{i}-{c}"}) for c in range(COPIES)
        ]
    started = time.monotonic()
    await rig.produce(events)
    assert time.monotonic() - started < 5.0

    await rig.wait_for_rows(EVENTS, timeout=60)
    skipped = EVENTS * (COPIES - 1)
    await async_wait_until(
        lambda: sum(w.output().count("already handled here") for w in workers) >= skipped,
        timeout=60,
        interval=0.1,
        message=f"every copy but one ({skipped}) is acknowledged as a duplicate",
    )

    users = Counter(await rig.users())
    assert len(users) == EVENTS
    assert max(users.values()) == 1, "side effects happened exactly once"
    outbox = await rig.outbox_ids()
    assert len(outbox) == EVENTS, "outbox events written exactly once"
    await rig.relay_everything()
    published = await rig.published_ids(EVENTS)
    assert sorted(published) == sorted(outbox)
