"""A batch handler's attempt in one transaction: :func:`transact_batch`.

Used by :meth:`cqrs_worker.inbox.UnitOfWork.around_batch`: one session, one
inbox statement for every event of the batch, the handlers once on those not
recorded before (a repeat of an event id within the batch counts as recorded),
one commit. An exception rolls back everything the attempt wrote (the inbox
records too) and propagates; the batch runner then retries or splits it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqrs_worker.container import Container
from cqrs_worker.inbox.reachability import Unreachable, database_unreachable
from cqrs_worker.inbox.repository import Inbox
from cqrs_worker.worker.delivery import Delivery

__all__ = ["transact_batch"]


async def transact_batch(
    deliveries: list[Delivery],
    call_next: Callable[[list[Delivery]], Awaitable[None]],
    *,
    session_factory: async_sessionmaker[AsyncSession],
    container: Container,
    provide: Callable[[type[Any], Any], None],
    inbox: Inbox | None,
    current: ContextVar[AsyncSession | None],
) -> list[Delivery]:
    """Run ``call_next`` on the fresh ``deliveries`` in one transaction; the duplicates.

    Raises :class:`~cqrs_worker.inbox.reachability.Unreachable` when the
    transaction cannot begin.
    """
    events: list[Any] = [d.event for d in deliveries]
    # Leaving the session rolls back whatever did not commit.
    async with container.scope(), session_factory() as session:
        token = current.set(session)
        try:
            try:
                await session.connection()
                ids = {event.event_id: event.event_name for event in events}
                fresh = (
                    set(ids)
                    if inbox is None
                    else await inbox.record_many(session, list(ids.items()))
                )
            except Exception as exc:
                if database_unreachable(exc):
                    raise Unreachable from exc
                raise
            run: list[Delivery] = []
            duplicates: list[Delivery] = []
            for delivery, event in zip(deliveries, events, strict=True):
                if event.event_id in fresh:
                    fresh.discard(event.event_id)  # a repeat within the batch is a duplicate
                    run.append(delivery)
                else:
                    duplicates.append(delivery)
            provide(AsyncSession, session)
            await call_next(run)
            await session.commit()
        finally:
            current.reset(token)
    return duplicates
