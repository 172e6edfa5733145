"""The unit of work on SQLite: one transaction per attempt, the inbox, the outbox."""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker import ConfigurationError, DefaultContainer
from cqrs_worker.inbox import Inbox, InboxStatus, UnitOfWork, inbox_table
from tests.unit.inbox.scenario import Behaviour, Harness, harness, joined


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}")
    try:
        yield engine
    finally:
        await engine.dispose()


async def outbox_names(h: Harness) -> list[str]:
    async with h.engine.connect() as conn:
        rows = await conn.execute(sa.select(h.tables.outbox.c.event_name))
        return [name for (name,) in rows]


async def test_effects_inbox_record_and_outbox_rows_commit_together(engine: AsyncEngine) -> None:
    async with harness(engine, "together") as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(1, timeout=10)
        assert await h.count(h.tables.participants) == 1
        assert await h.count(h.tables.seats) == 1, "the domain event ran in the same unit of work"
        assert await outbox_names(h) == ["ParticipantAdded"]
        async with engine.connect() as conn:
            status = await h.inbox.status(conn, event.event_id)
        assert status is InboxStatus.HANDLED
        assert h.stats.handled == 1
        assert h.stats.duplicates == 0


async def test_handlers_share_the_attempts_session(engine: AsyncEngine) -> None:
    async with harness(engine, "shared") as h:
        h.put(joined("ann"))
        await h.source.wait_acked(1, timeout=10)
    kinds = [kind for kind, _ in h.behaviour.sessions]
    assert kinds == ["event", "command", "domain"]
    assert len({session for _, session in h.behaviour.sessions}) == 1


async def test_a_redelivery_is_acked_without_running_handlers(engine: AsyncEngine) -> None:
    async with harness(engine, "dup") as h:
        event = joined("ann")
        for _ in range(3):
            h.put(event)
        await h.source.wait_acked(3, timeout=10)
        assert await h.count(h.tables.participants) == 1
        assert await outbox_names(h) == ["ParticipantAdded"]
        assert h.stats.duplicates == 2
        assert h.stats.handled == 1
        assert h.unit_of_work.duplicates == 2


@pytest.mark.parametrize("batch_size", [1, 50])
async def test_duplicates_are_logged_at_debug_only(
    engine: AsyncEngine, batch_size: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="cqrs_worker")
    async with harness(engine, f"quiet{batch_size}", batch_size=batch_size) as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(1, timeout=10)
        for _ in range(20):  # a redelivery storm
            h.put(event)
        await h.source.wait_acked(21, timeout=10)
    assert h.stats.duplicates == 20
    skipped = [r for r in caplog.records if r.getMessage().startswith("skipping UserJoined")]
    assert len(skipped) == 20
    assert {r.levelno for r in skipped} == {logging.DEBUG}
    assert [r for r in caplog.records if r.levelno >= logging.INFO] == []


async def test_a_failed_attempt_leaves_nothing_behind(engine: AsyncEngine) -> None:
    async with harness(engine, "retry", behaviour=Behaviour(fail_times=2)) as h:
        h.put(joined("ann"))
        await h.source.wait_acked(1, timeout=10)
        assert h.stats.retried == 2
        assert await h.count(h.tables.participants) == 1
        assert await h.count(h.tables.seats) == 1
        assert await outbox_names(h) == ["ParticipantAdded"], (
            "one row, from the attempt that worked"
        )


async def test_dead_lettered_event_is_recorded_and_its_redelivery_skipped(
    engine: AsyncEngine,
) -> None:
    async with harness(engine, "dlq", behaviour=Behaviour(fail_times=2), max_attempts=2) as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(1, timeout=10)
        assert h.stats.dead_lettered == 1
        assert len(h.dead_letters.messages("users.dlq")) == 1
        assert await h.count(h.tables.participants) == 0
        assert await outbox_names(h) == []
        async with engine.connect() as conn:
            status = await h.inbox.status(conn, event.event_id)
        assert status is InboxStatus.DEAD_LETTERED

        h.put(event)  # the broker redelivers it; the handler would now succeed
        await h.source.wait_acked(2, timeout=10)
        assert h.stats.duplicates == 1
        assert await h.count(h.tables.participants) == 0


async def test_purge_deletes_records_older_than_the_retention(engine: AsyncEngine) -> None:
    async with harness(engine, "purge", retention=3600) as h:
        inbox = h.unit_of_work.inbox
        assert inbox is not None
        old, new = uuid.uuid4(), uuid.uuid4()
        async with engine.begin() as conn:
            await inbox.record(conn, old, "UserJoined")
            await inbox.record(conn, new, "UserJoined")
            stale = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=2)
            await conn.execute(
                sa.update(inbox.table)
                .where(inbox.table.c.event_id == old)
                .values(recorded_at=stale)
            )
        assert await h.unit_of_work.purge() == 1
        async with engine.connect() as conn:
            assert await inbox.status(conn, old) is None
            assert await inbox.status(conn, new) is InboxStatus.HANDLED


async def test_the_worker_purges_in_the_background(engine: AsyncEngine) -> None:
    async with harness(engine, "background", retention=0.0, purge_interval=0.001) as h:
        # Every record is old at once; each finished delivery may start a purge.
        deadline = asyncio.get_running_loop().time() + 10
        handled = 0
        while await h.count(h.tables.inbox) >= handled:
            assert asyncio.get_running_loop().time() < deadline, "no record was purged"
            h.put(joined(f"user-{handled}"))
            handled += 1
            await h.source.wait_acked(handled, timeout=10)
        assert await h.count(h.tables.participants) == handled


async def test_emitting_outside_a_unit_of_work_says_so(engine: AsyncEngine) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    unit_of_work = UnitOfWork(async_sessionmaker(engine), container=DefaultContainer())
    with pytest.raises(ConfigurationError, match="outside a unit of work"):
        await unit_of_work.emitter.emit(joined("ann"))


def test_a_container_without_provide_is_refused(engine: AsyncEngine) -> None:
    from sqlalchemy.ext.asyncio import async_sessionmaker

    class Bare:
        async def resolve(self, type_: type[object], /) -> object: ...

        def scope(self) -> object: ...

    with pytest.raises(ConfigurationError, match="provide"):
        UnitOfWork(async_sessionmaker(engine), container=Bare())  # type: ignore[arg-type]  # deliberately incomplete


async def test_a_failure_to_record_the_dead_letter_is_logged_and_the_message_acked(
    engine: AsyncEngine, caplog: pytest.LogCaptureFixture
) -> None:
    async with harness(engine, "unrecorded", max_attempts=1) as h:
        # An inbox whose table does not exist: every attempt fails, so does the record.
        h.unit_of_work.inbox = Inbox(consumer="c", table=inbox_table(sa.MetaData(), name="gone"))
        h.put(joined("ann"))
        await h.source.wait_acked(1, timeout=10)
        assert h.stats.dead_lettered == 1
    assert "after dead-lettering UserJoined" in caplog.text


async def test_a_transaction_outside_a_delivery_works_like_one(engine: AsyncEngine) -> None:
    from cqrs_worker.request_mediator import RequestMediator
    from tests.unit.inbox.scenario import JoinMeeting

    async with harness(engine, "outside") as h:
        mediator = await h.unit_of_work.container.resolve(RequestMediator)
        async with h.unit_of_work.transaction() as session:
            assert h.unit_of_work.session() is session
            await mediator.send(JoinMeeting(user="ann", meeting="m1"))
        assert h.unit_of_work.session() is None
        assert await h.count(h.tables.participants) == 1
        assert await outbox_names(h) == ["ParticipantAdded"]
        assert await h.count(h.tables.inbox) == 0, "no inbox record outside a delivery"

        async def change_mind() -> None:
            async with h.unit_of_work.transaction():
                await mediator.send(JoinMeeting(user="bob", meeting="m1"))
                raise RuntimeError("changed my mind")

        with pytest.raises(RuntimeError, match="changed my mind"):
            await change_mind()
        assert await h.count(h.tables.participants) == 1
        assert await outbox_names(h) == ["ParticipantAdded"]
