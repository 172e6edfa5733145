"""R8: a handler emits events, then raises: nothing it emitted in that attempt is published."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.reliability.inbox.conftest import Rig


@pytest.mark.parametrize("rig", ["postgres", "mariadb"], indirect=True)
async def test_nothing_from_a_failed_attempt_is_published(rig: Rig) -> None:
    events = (
        [rig.event(f"ok-{i}") for i in range(100)]
        + [rig.event(f"once-{i}", fail="once") for i in range(100)]
        + [rig.event(f"always-{i}", fail="always") for i in range(20)]
    )
    worker = rig.start_worker()
    worker.wait_for_line("running", timeout=60)
    await rig.produce(events)
    # Every event is recorded in the inbox once handled or dead-lettered.
    await rig.wait_for_rows(220, timeout=60, table=rig.tables.inbox)
    await rig.relay_everything()
    published = await rig.published_ids(200)

    users = Counter(await rig.users())
    assert set(users) == {f"ok-{i}" for i in range(100)} | {f"once-{i}" for i in range(100)}
    assert max(users.values()) == 1, "each handled event wrote its row once"
    outbox = await rig.outbox_ids()
    assert len(outbox) == 200, "one ParticipantAdded per successful attempt, none from failures"
    assert sorted(published) == sorted(outbox), "published == committed outbox rows, once each"
