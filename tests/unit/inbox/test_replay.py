"""Replayed dead letters and the inbox (SQLite): handled once, then duplicates."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.dlq import REPLAYED_AT
from cqrs_worker.inbox import InboxStatus
from tests.unit.inbox.scenario import Behaviour, Harness, UserJoined, harness, joined


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


def put_replay(h: Harness, event: UserJoined) -> None:
    """``event`` as ``cqrs-worker dlq replay`` sends it back: same body, marked."""
    message = OutgoingMessage.from_event(event)
    marked = {**message.headers, REPLAYED_AT: "2026-01-01T00:00:00+00:00"}
    h.source.put(dataclasses.replace(message, headers=marked))


async def status(h: Harness, event: UserJoined) -> InboxStatus | None:
    async with h.engine.connect() as conn:
        return await h.inbox.status(conn, event.event_id)


@pytest.mark.parametrize("batch_size", [1, 4])
async def test_a_replayed_dead_letter_is_handled_once_then_duplicates(
    engine: AsyncEngine, batch_size: int
) -> None:
    behaviour = Behaviour(fail_times=2)
    async with harness(
        engine, f"replay{batch_size}", behaviour=behaviour, max_attempts=2, batch_size=batch_size
    ) as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(1, timeout=10)
        assert await status(h, event) is InboxStatus.DEAD_LETTERED

        h.put(event)  # a plain redelivery stays skipped
        await h.source.wait_acked(2, timeout=10)
        assert h.stats.duplicates == 1

        put_replay(h, event)  # the fix is deployed; the replay is handled
        await h.source.wait_acked(3, timeout=10)
        assert await h.count(h.tables.participants) == 1
        assert await status(h, event) is InboxStatus.HANDLED

        put_replay(h, event)  # a second replay of it changes nothing
        await h.source.wait_acked(4, timeout=10)
        assert h.stats.duplicates == 2
        assert await h.count(h.tables.participants) == 1


async def test_a_replay_of_a_handled_event_is_a_duplicate(engine: AsyncEngine) -> None:
    async with harness(engine, "replayok") as h:
        event = joined("bob")
        h.put(event)
        await h.source.wait_acked(1, timeout=10)
        put_replay(h, event)
        await h.source.wait_acked(2, timeout=10)
        assert h.stats.duplicates == 1
        assert await h.count(h.tables.participants) == 1


async def test_a_replay_that_fails_again_stays_dead_lettered(engine: AsyncEngine) -> None:
    behaviour = Behaviour(fail_times=4)
    async with harness(engine, "replayagain", behaviour=behaviour, max_attempts=2) as h:
        event = joined("cy")
        h.put(event)
        await h.source.wait_acked(1, timeout=10)
        put_replay(h, event)  # still broken: dead-lettered again, nothing written
        await h.source.wait_acked(2, timeout=10)
        assert h.stats.dead_lettered == 2
        assert await status(h, event) is InboxStatus.DEAD_LETTERED
        assert await h.count(h.tables.participants) == 0
        put_replay(h, event)  # fixed now
        await h.source.wait_acked(3, timeout=10)
        assert await h.count(h.tables.participants) == 1
        assert await status(h, event) is InboxStatus.HANDLED
