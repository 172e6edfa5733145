"""Batch handlers with the unit of work on PostgreSQL, in real worker processes on Tansu.

The ``UserJoined`` handler defines ``handle_batch`` (INBOX_RELIABILITY_BATCH_HANDLER=1):
a batch is one transaction (its inbox records share one timestamp), a failing batch rolls
back every row and outbox event it wrote, the poison event alone is dead-lettered, and a
SIGKILLed worker's redelivered events are not handled twice (inbox).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import sqlalchemy as sa

from tests.reliability.inbox.conftest import Rig

pytestmark = pytest.mark.reliability

BATCH_HANDLER = {"INBOX_RELIABILITY_BATCH_HANDLER": "1"}


def batch_sizes(output: str) -> list[int]:
    return [int(size) for size in re.findall(r"handle_batch of (\d+)", output)]


@pytest.mark.timeout(180)
async def test_a_failing_batch_rolls_back_and_only_the_poison_is_dead_lettered(rig: Rig) -> None:
    events = [rig.event(f"user-{i}", key=f"g{i % 3}") for i in range(1500)]
    events[700] = rig.event("poison", fail="always", key="g1")
    events[900] = rig.event("flaky", fail="once", key="g0")
    await rig.produce(events)  # queued before the worker runs: batches are large

    worker = rig.start_worker(env=BATCH_HANDLER)
    await rig.wait_for_rows(1500, timeout=120, table=rig.tables.inbox)
    worker.terminate()
    assert worker.wait(timeout=30) == 0

    output = worker.output()
    assert max(batch_sizes(output)) > 1
    assert "splitting it to find the failing event" in output
    assert re.search(r"stats: received=1500, handled=1499, retried=\d+, dead_lettered=1,", output)
    users = Counter(await rig.users())
    assert set(users) == {e.payload.user for e in events} - {"poison"}
    assert max(users.values()) == 1, "no row of a failed batch attempt survived"
    assert len(await rig.outbox_ids()) == 1499, "no outbox event of a failed batch attempt"
    inbox = rig.tables.inbox
    transactions = await rig.scalar(sa.select(sa.func.count(sa.distinct(inbox.c.recorded_at))))
    assert transactions < 1500 / 5, "one inbox statement (one timestamp) per batch"


@pytest.mark.timeout(180)
async def test_a_sigkilled_batch_worker_handles_nothing_twice(rig: Rig) -> None:
    total = 4000
    users = [f"user-{i}" for i in range(total)]
    await rig.produce([rig.event(user, key=f"g{i % 8}") for i, user in enumerate(users)])

    # Each batch call takes 0.3 s, so the kill lands mid-way on a fast machine too.
    slow = {**BATCH_HANDLER, "INBOX_RELIABILITY_BATCH_SECONDS": "0.3"}
    worker = rig.start_worker(env=slow)
    progress = await rig.wait_for_rows(total * 3 // 10, timeout=120)
    worker.kill()
    worker.wait(timeout=10)
    assert progress < total, "the kill must land while work remains"
    restarted = rig.start_worker(env=slow)
    await rig.wait_for_rows(total, timeout=120)
    await rig.wait_for_rows(total, timeout=60, table=rig.tables.inbox)
    restarted.terminate()
    assert restarted.wait(timeout=30) == 0

    output = worker.output() + restarted.output()
    assert max(batch_sizes(output)) > 1
    # Batches committed in the database but not yet on Kafka come back after the kill
    # (500-2000 "already handled here" in trial runs); the inbox skips them whole.
    rows = Counter(await rig.users())
    assert set(rows) == set(users)
    assert sum(rows.values()) == total, f"duplicates: {[u for u, n in rows.items() if n > 1][:5]}"
    assert len(await rig.outbox_ids()) == total
