"""Per-batch units of work: several deliveries' first attempts share one transaction.

Deliveries that reach the :class:`~cqrs_worker.inbox.UnitOfWork` while
earlier batches hold every slot gather into the next batch (up to
``batch_size``). A batch runs in a task of its own: one session, one inbox
statement for all its events, each member's handlers one after another (each
in its own container scope, all sharing the session), one commit.

Outcomes, told to each member's waiting delivery:

* committed -> done (acknowledged as usual); a member whose event was already
  recorded, or appeared earlier in the same batch, -> duplicate;
* a member's handlers raised -> the batch rolls back; that member gets the
  exception (an ordinary failed attempt: its retry runs alone) and every other
  member runs again alone, in a transaction of its own, without spending one
  of its attempts;
* the commit (or the inbox statement) failed -> every member runs again alone.

A member whose delivery is cancelled while its batch runs is still handled
and committed with the batch (its inbox record is already written); the
broker redelivers it and the inbox acknowledges it as a duplicate.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import uuid
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqrs_worker.container import Container
from cqrs_worker.dlq.marker import is_replay
from cqrs_worker.inbox.repository import Inbox
from cqrs_worker.middleware import CallNext
from cqrs_worker.observability.logcontext import rebind as rebind_log_context
from cqrs_worker.observability.logcontext import unbind as unbind_log_context
from cqrs_worker.worker.delivery import Delivery

__all__ = ["Batcher", "Outcome"]

logger = logging.getLogger(__name__)


class Outcome(enum.Enum):
    DONE = "done"
    DUPLICATE = "duplicate"
    ALONE = "alone"


@dataclass(slots=True)
class _Member:
    delivery: Delivery
    call_next: CallNext
    future: asyncio.Future[Outcome]


@dataclass(slots=True)
class _Batch:
    members: list[_Member] = field(default_factory=list)


class Batcher:
    """Gathers first attempts into batches and runs at most ``concurrency`` at once."""

    def __init__(
        self,
        *,
        session_factory: async_sessionmaker[AsyncSession],
        container: Container,
        provide: Callable[[type[Any], Any], None],
        inbox: Inbox | None,
        current: ContextVar[AsyncSession | None],
        size: int,
        concurrency: int,
    ) -> None:
        self._session_factory = session_factory
        self._container = container
        self._provide = provide
        self._inbox = inbox
        self._current = current
        self._size = size
        self._slots = asyncio.Semaphore(concurrency)
        self._filling: _Batch | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, delivery: Delivery, call_next: CallNext) -> Awaitable[Outcome]:
        """Join the filling batch (starting one if none); await the member's outcome."""
        batch = self._filling
        if batch is None:
            batch = self._filling = _Batch()
            task = asyncio.create_task(self._run(batch), name="cqrs-worker-unit-of-work-batch")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        batch.members.append(_Member(delivery, call_next, future))
        if len(batch.members) >= self._size:
            self._filling = None
        return future

    async def _run(self, batch: _Batch) -> None:
        rebind_log_context(None)  # this task's lines are about the batch, not its first member
        async with self._slots:
            if self._filling is batch:
                self._filling = None
            try:
                await self._transact(batch.members)
            except Exception as exc:  # the members run again alone, where failures count
                logger.warning(
                    "a batch of %d deliveries failed (%s: %s); running each alone",
                    len(batch.members),
                    type(exc).__name__,
                    exc,
                )
            finally:
                for member in batch.members:  # whatever was not decided runs again alone
                    _settle(member, Outcome.ALONE)

    async def _transact(self, members: list[_Member]) -> None:
        first: dict[uuid.UUID, _Member] = {}
        for member in members:
            event: Any = member.delivery.event
            first.setdefault(event.event_id, member)
        async with self._session_factory() as session:
            token = self._current.set(session)
            try:
                await session.connection()  # an unreachable database fails the batch here
                fresh = set(first)
                if self._inbox is not None:
                    fresh = await self._inbox.record_many(
                        session,
                        [(i, m.delivery.event.event_name) for i, m in first.items()],  # type: ignore[union-attr]  # decoded before this middleware
                    )
                    for event_id, member in first.items():
                        # Replayed dead letters (cqrs_worker.dlq): handled once more.
                        if (
                            event_id not in fresh
                            and is_replay(member.delivery)
                            and await self._inbox.resume_dead_lettered(session, event_id)
                        ):
                            fresh.add(event_id)
                for event_id, member in first.items():
                    if event_id not in fresh:
                        continue
                    # The batch task inherited the first member's log context;
                    # each member's handlers log as that member.
                    log_context = rebind_log_context(member.delivery)
                    try:
                        async with self._container.scope():
                            self._provide(AsyncSession, session)
                            await member.call_next(member.delivery)
                    except Exception as exc:
                        await session.rollback()
                        if not member.future.done():
                            member.future.set_exception(exc)
                        return
                    finally:
                        unbind_log_context(log_context)
                await session.commit()
            finally:
                self._current.reset(token)
        for member in members:
            event_id = member.delivery.event.event_id  # type: ignore[union-attr]  # decoded
            ran = event_id in fresh and first[event_id] is member
            _settle(member, Outcome.DONE if ran else Outcome.DUPLICATE)


def _settle(member: _Member, outcome: Outcome) -> None:
    if not member.future.done():
        member.future.set_result(outcome)
