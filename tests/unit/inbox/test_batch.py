"""Per-batch units of work on SQLite: shared transactions, and what one failure does."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.observability.logcontext import LogContextFilter
from tests.unit.inbox.scenario import Behaviour, harness, joined


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def test_a_batch_commits_every_members_effects(engine: AsyncEngine) -> None:
    async with harness(engine, "batch", batch_size=50) as h:
        for i in range(200):
            h.put(joined(f"user-{i}"))
        await h.source.wait_acked(200, timeout=30)
        assert await h.count(h.tables.participants) == 200
        assert await h.count(h.tables.seats) == 200
        assert await h.count(h.tables.outbox) == 200
        assert await h.count(h.tables.inbox) == 200
        assert h.stats.handled == 200


async def test_copies_in_one_batch_take_effect_once(engine: AsyncEngine) -> None:
    async with harness(engine, "copies", batch_size=50) as h:
        events = [joined(f"user-{i}") for i in range(10)]
        for event in events:
            for _ in range(3):
                h.source.put(dataclasses.replace(OutgoingMessage.from_event(event), key=None))
        await h.source.wait_acked(30, timeout=30)
        assert await h.count(h.tables.participants) == 10
        assert await h.count(h.tables.outbox) == 10
        assert h.stats.duplicates == 20


async def test_one_failing_member_costs_the_others_no_attempt(engine: AsyncEngine) -> None:
    behaviour = Behaviour(fail_times=1, failing_users=frozenset({"user-7"}))
    async with harness(engine, "isolate", behaviour=behaviour, batch_size=50) as h:
        for i in range(20):
            h.put(joined(f"user-{i}"))
        await h.source.wait_acked(20, timeout=30)
        assert h.stats.retried == 1, "only the failing member spent an attempt"
        assert h.stats.dead_lettered == 0
        assert await h.count(h.tables.participants) == 20
        assert await h.count(h.tables.outbox) == 20


async def test_a_member_dead_lettered_from_a_batch_is_recorded(engine: AsyncEngine) -> None:
    behaviour = Behaviour(fail_times=10, failing_users=frozenset({"user-3"}))
    async with harness(engine, "dlq", behaviour=behaviour, batch_size=50, max_attempts=2) as h:
        for i in range(10):
            h.put(joined(f"user-{i}"))
        await h.source.wait_acked(10, timeout=30)
        assert h.stats.dead_lettered == 1
        assert await h.count(h.tables.participants) == 9
        assert await h.count(h.tables.outbox) == 9
        assert await h.count(h.tables.inbox) == 10


async def test_each_members_handler_logs_as_that_member(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    # The batch runs every member's handlers in one task of its own.
    context = LogContextFilter()
    caplog.handler.addFilter(context)
    caplog.set_level(logging.DEBUG, logger="tests.meetings")
    try:
        async with harness(engine, "context", batch_size=50) as h:
            for i in range(30):
                h.put(joined(f"user-{i}"))
            await h.source.wait_acked(30, timeout=30)
    finally:
        caplog.handler.removeFilter(context)
    lines = [r for r in caplog.records if r.name == "tests.meetings"]
    assert len(lines) == 30
    assert [r.event_id for r in lines] == [r.handling for r in lines]  # type: ignore[attr-defined]  # extra= and the filter
