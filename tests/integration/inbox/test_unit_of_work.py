"""The unit of work and the inbox on PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker import RequestMediator
from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox import Inbox, InboxStatus
from tests.support.names import unique_name
from tests.unit.inbox.scenario import Behaviour, Harness, JoinMeeting, harness, joined


def suffix() -> str:
    return unique_name("t").replace("-", "_")[-20:]


async def outbox_count(h: Harness) -> int:
    return await h.count(h.tables.outbox)


@pytest.mark.parametrize("batch_size", [1, 50])
async def test_concurrent_duplicates_take_effect_once(engine: AsyncEngine, batch_size: int) -> None:
    async with harness(engine, suffix(), batch_size=batch_size) as h:
        events = [joined(f"user-{i}") for i in range(20)]
        for event in events:
            for _ in range(3):  # keyless: the copies run concurrently, in different lanes
                h.source.put(dataclasses.replace(OutgoingMessage.from_event(event), key=None))
        await h.source.wait_acked(60, timeout=60)
        assert await h.count(h.tables.participants) == 20
        assert await h.count(h.tables.seats) == 20
        assert await outbox_count(h) == 20
        assert h.stats.duplicates == 40
        assert h.stats.dead_lettered == 0


@pytest.mark.parametrize("batch_size", [1, 50])
async def test_failure_after_emit_rolls_back_the_attempt(
    engine: AsyncEngine, batch_size: int
) -> None:
    behaviour = Behaviour(fail_times=1, failing_users=frozenset({"ann"}))
    async with harness(engine, suffix(), behaviour=behaviour, batch_size=batch_size) as h:
        h.put(joined("ann"))
        for i in range(20):
            h.put(joined(f"user-{i}"))
        await h.source.wait_acked(21, timeout=30)
        assert h.stats.retried == 1
        assert await h.count(h.tables.participants) == 21
        assert await outbox_count(h) == 21


async def test_dead_letter_is_recorded_and_redelivery_skipped(engine: AsyncEngine) -> None:
    async with harness(engine, suffix(), behaviour=Behaviour(fail_times=5), max_attempts=2) as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(1, timeout=30)
        h.put(event)
        await h.source.wait_acked(2, timeout=30)
        assert h.stats.dead_lettered == 1
        assert h.stats.duplicates == 1
        assert await h.count(h.tables.participants) == 0
        assert await outbox_count(h) == 0
        async with engine.connect() as conn:
            assert await h.inbox.status(conn, event.event_id) is InboxStatus.DEAD_LETTERED


async def test_a_copy_back_from_a_retry_stage_is_handled_once_and_then_a_duplicate(
    engine: AsyncEngine,
) -> None:
    behaviour = Behaviour(fail_times=2)
    async with harness(
        engine, suffix(), behaviour=behaviour, max_attempts=2, retry_stages=(1.0, 2.0)
    ) as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(2, timeout=30)  # the original (moved), then its copy
        h.put(event)
        await h.source.wait_acked(3, timeout=30)
        assert h.stats.moved == 1
        assert h.stats.handled == 1
        assert h.stats.duplicates == 1
        assert await h.count(h.tables.participants) == 1
        assert await outbox_count(h) == 1
        async with engine.connect() as conn:
            assert await h.inbox.status(conn, event.event_id) is InboxStatus.HANDLED


async def test_after_the_last_retry_stage_the_inbox_records_the_dead_letter(
    engine: AsyncEngine,
) -> None:
    async with harness(
        engine, suffix(), behaviour=Behaviour(fail_times=99), max_attempts=2, retry_stages=(1.0,)
    ) as h:
        event = joined("ann")
        h.put(event)
        await h.source.wait_acked(2, timeout=30)
        assert h.stats.moved == 1
        assert h.stats.dead_lettered == 1
        [dead] = h.dead_letters.messages("users.dlq")
        assert dead.headers["x-dlq-retry-stages"] == "1s"
        assert dead.headers["x-dlq-attempts"] == "4"
        async with engine.connect() as conn:
            assert await h.inbox.status(conn, event.event_id) is InboxStatus.DEAD_LETTERED


async def test_purge_keeps_the_records_of_other_consumers(engine: AsyncEngine) -> None:
    async with harness(engine, suffix(), retention=0.0) as h:
        h.put(joined("ann"))
        await h.source.wait_acked(1, timeout=30)
        other = Inbox(consumer="someone-else", table=h.inbox.table)
        async with engine.begin() as conn:
            await other.record(conn, joined("bob").event_id, "UserJoined")
        assert await h.unit_of_work.purge() == 1, "retention 0: this consumer's record is old"
        async with engine.connect() as conn:
            assert await conn.scalar(sa.select(sa.func.count()).select_from(h.inbox.table)) == 1


async def failing_request(h: Harness, mediator: RequestMediator) -> None:
    async with h.unit_of_work.transaction():
        await mediator.send(JoinMeeting(user="bob", meeting="m1"))
        raise RuntimeError("the request failed")


async def test_a_transaction_outside_the_worker_holds_commands_and_their_outbox_rows(
    engine: AsyncEngine,
) -> None:
    async with harness(engine, suffix()) as h:
        mediator = await h.unit_of_work.container.resolve(RequestMediator)
        async with h.unit_of_work.transaction() as session:
            await mediator.send(JoinMeeting(user="ann", meeting="m1"))
            await mediator.send(JoinMeeting(user="bea", meeting="m1"))
        with pytest.raises(RuntimeError, match="the request failed"):
            await failing_request(h, mediator)

        assert await h.count(h.tables.participants) == 2
        assert await h.count(h.tables.seats) == 2  # the domain event's handler, same transaction
        assert await outbox_count(h) == 2
        first = {id_ for _, id_ in h.behaviour.sessions[:4]}
        assert first == {id(session)}, "every handler of the block wrote in its session"
        assert h.unit_of_work.session() is None


async def test_a_transaction_does_not_nest(engine: AsyncEngine) -> None:
    async with harness(engine, suffix()) as h, h.unit_of_work.transaction():
        with pytest.raises(ConfigurationError, match="already running"):
            async with h.unit_of_work.transaction():
                pass
