"""R3: effectively once end to end, with worker processes SIGKILLed three times.

20,000 events whose handlers write a row and emit an outbox event; two
worker processes in one consumer group; after >= 20 %, 40 % and 60 % of the
rows exist, one worker is SIGKILLed and started again. Then: the rows are
the input set with no duplicates, every event has one outbox row, and the
relay publishes every outbox event.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.reliability.inbox.conftest import Rig

EVENTS = 20_000
KILLS_AT = (0.2, 0.4, 0.6)


@pytest.mark.parametrize(
    ("rig", "batch"),
    [("postgres", 1), ("postgres", 50), ("mariadb", 50)],
    indirect=["rig"],
    ids=["postgres-per-event", "postgres-per-batch", "mariadb-per-batch"],
)
async def test_rows_equal_the_input_set_after_three_sigkills(rig: Rig, batch: int) -> None:
    workers = [rig.start_worker(batch=batch) for _ in range(2)]
    for worker in workers:
        worker.wait_for_line("running", timeout=60)
    users = [f"user-{i}" for i in range(EVENTS)]
    await rig.produce([rig.event(user) for user in users])

    for round_, fraction in enumerate(KILLS_AT):
        progress = await rig.wait_for_rows(int(EVENTS * fraction), timeout=120)
        victim = workers[round_ % 2]
        victim.kill()
        victim.wait(timeout=10)
        assert progress < EVENTS, "the kill must land while work remains"
        workers[round_ % 2] = rig.start_worker(batch=batch)
    await rig.wait_for_rows(EVENTS, timeout=180)
    await rig.wait_for_rows(EVENTS, timeout=60, table=rig.tables.inbox)
    for worker in workers:  # a clean stop: redeliveries in flight finish first
        worker.terminate()
        assert worker.wait(timeout=30) == 0

    redelivered = sum(w.output().count("already handled here") for w in rig.workers)
    assert redelivered > 0, "the kills left handled but uncommitted work, redelivered"
    rows = Counter(await rig.users())
    assert set(rows) == set(users)
    assert sum(rows.values()) == EVENTS, f"duplicates: {[u for u, n in rows.items() if n > 1][:5]}"
    outbox = await rig.outbox_ids()
    assert len(outbox) == EVENTS
    await rig.relay_everything()
    published = await rig.published_ids(EVENTS)
    assert len(published) == len(set(published)) == EVENTS
    assert set(published) == set(outbox)
