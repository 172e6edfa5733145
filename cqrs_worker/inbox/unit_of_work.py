"""The :class:`UnitOfWork`: one database transaction per delivery attempt, with the inbox.

Put it in the worker's ``middlewares`` (they run inside the retry loop) and
give the mediators its :attr:`~UnitOfWork.emitter`::

    inbox = Inbox(consumer="meetings")
    unit_of_work = UnitOfWork(session_factory, container=container, inbox=inbox)
    mediators = bootstrap(events=..., requests=..., container=container,
                          emitter=unit_of_work.emitter)
    worker = Worker(mediators.events, settings, middlewares=[unit_of_work])

Per attempt: open a session and a transaction; record the event in the inbox
first; if it was recorded before (handled, or dead-lettered), roll back and
acknowledge it as a duplicate without running handlers. Otherwise put the
session into the message's container scope (handlers and the command handlers
they call ask for :class:`~sqlalchemy.ext.asyncio.AsyncSession` by type), run
the handlers, and commit: the inbox record, the handlers' writes and the
outbox rows of the Notification/ECST events they emitted commit together. An
exception rolls everything back and propagates; the retry loop starts the
next attempt in a fresh transaction, with nothing left over from this one.

While the database is unreachable (the transaction cannot begin), an
attempt waits and tries again with backoff, unacknowledged, without spending
one of the delivery's attempts; :meth:`UnitOfWork.readiness` says so.

The emitter finds the current attempt's session through a context variable
that belongs to this unit of work and is set only while an attempt runs
(so concurrent deliveries never see each other's session).

Outside the worker (an HTTP request, a script), :meth:`UnitOfWork.transaction`
gives the same session handling and the same emitter, without the inbox:
``cqrs_worker.contrib.fastapi`` runs each request in one.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqrs_worker.container import Container
from cqrs_worker.dlq.marker import is_replay
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox.batch import Batcher, Outcome
from cqrs_worker.inbox.emitter import UnitOfWorkEmitter
from cqrs_worker.inbox.purger import InboxPurger
from cqrs_worker.inbox.reachability import database_unreachable
from cqrs_worker.inbox.repository import Inbox
from cqrs_worker.inbox.settings import UnitOfWorkSettings
from cqrs_worker.inbox.table import InboxStatus
from cqrs_worker.middleware import CallNext
from cqrs_worker.outbox.repository import SqlAlchemyOutboxedEventRepository
from cqrs_worker.worker.delivery import Delivery

__all__ = ["UnitOfWork"]

logger = logging.getLogger(__name__)

_FIRST_WAIT = 0.5
_MAX_WAIT = 10.0


class _Unreachable(Exception):
    """The transaction could not begin; the cause says why."""


class UnitOfWork:
    """A pipeline middleware: a transaction per attempt, the inbox, the outbox emitter.

    ``inbox=None`` keeps the transaction and the outbox but not the
    duplicate check. ``outbox`` is the repository emitted events are written
    with (default: the ``outbox`` table). ``settings`` (default: read from
    ``CQRS_WORKER_UNIT_OF_WORK_*``) choose per-event or per-batch units of work
    (:mod:`cqrs_worker.inbox.batch`) and the inbox retention: records older
    than that are purged in a background task, at most once per
    ``purge_interval``, started after a delivery finished.

    Handlers must not commit or roll back the session themselves: the unit
    of work does, once, for everything the attempt (or batch) wrote.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        container: Container,
        inbox: Inbox | None = None,
        outbox: SqlAlchemyOutboxedEventRepository | None = None,
        settings: UnitOfWorkSettings | None = None,
    ) -> None:
        settings = settings if settings is not None else UnitOfWorkSettings()
        provide = getattr(container, "provide", None)
        if not callable(provide):
            raise ConfigurationError(
                f"the unit of work puts the session into the message scope with "
                f"provide(); {type(container).__qualname__} has none: use DefaultContainer"
            )
        self._provide = provide
        self.session_factory = session_factory
        self.container = container
        self.inbox = inbox
        self.settings = settings
        self.duplicates = 0
        #: Deliveries waiting for the database right now (it did not answer).
        self.waiting = 0
        self._current: contextvars.ContextVar[AsyncSession | None] = contextvars.ContextVar(
            f"cqrs_worker_unit_of_work_{id(self)}", default=None
        )
        self.emitter = UnitOfWorkEmitter(self._current, outbox)
        self._purger = InboxPurger(session_factory, inbox, settings)
        self._batcher = (
            Batcher(
                session_factory=session_factory,
                container=container,
                provide=provide,
                inbox=inbox,
                current=self._current,
                size=settings.batch_size,
                concurrency=settings.batch_concurrency,
            )
            if settings.batch_size > 1
            else None
        )

    def readiness(self) -> str | None:
        """``None`` while the database answers; else why this worker is not ready."""
        if self.waiting:
            return f"database unreachable: {self.waiting} deliveries waiting for it"
        return None

    def session(self) -> AsyncSession | None:
        """The session of the attempt running in this task, if any."""
        return self._current.get()

    async def __call__(self, delivery: Delivery, call_next: CallNext, /) -> None:
        # Retries always run alone: a failing delivery must not hold up a batch.
        if self._batcher is not None and delivery.attempts == 1:
            outcome = await self._batcher.submit(delivery, call_next)
            if outcome is Outcome.DUPLICATE:
                self._duplicate(delivery)
            if outcome is not Outcome.ALONE:
                self._purger.due()
                return
        await self._alone(delivery, call_next)
        self._purger.due()

    async def _alone(self, delivery: Delivery, call_next: CallNext) -> None:
        """One attempt in a transaction of its own, once the database answers.

        While the transaction cannot even begin (the database is down), the
        attempt waits and tries again, unacknowledged: an outage must not
        spend the delivery's attempts and dead-letter it unhandled.
        """
        delay = _FIRST_WAIT
        while True:
            try:
                await self._attempt(delivery, call_next)
                return
            except _Unreachable as exc:
                self.waiting += 1
                logger.warning(
                    "database unreachable (%s: %s); waiting %.1fs before handling %s",
                    type(exc.__cause__).__name__,
                    exc.__cause__,
                    delay,
                    delivery.name,
                )
                try:
                    await asyncio.sleep(delay)
                finally:
                    self.waiting -= 1
                delay = min(delay * 2, _MAX_WAIT)

    async def _attempt(self, delivery: Delivery, call_next: CallNext) -> None:
        event = delivery.event
        if event is None:  # pragma: no cover - the decode middleware runs first
            raise ConfigurationError("the unit of work must run after decoding")
        # Leaving the session rolls back whatever did not commit.
        async with self.container.scope(), self.session_factory() as session:
            token = self._current.set(session)
            try:
                try:
                    await session.connection()
                    inbox = self.inbox
                    fresh = inbox is None or await inbox.record(
                        session, event.event_id, event.event_name
                    )
                    if not fresh and inbox is not None and is_replay(delivery):
                        # A copy replayed from the dead-letter queue: handled
                        # once if its record says dead-lettered (cqrs_worker.dlq).
                        fresh = await inbox.resume_dead_lettered(session, event.event_id)
                except Exception as exc:
                    if database_unreachable(exc):
                        raise _Unreachable from exc
                    raise
                if not fresh:
                    await session.rollback()
                    self._duplicate(delivery)
                    return
                self._provide(AsyncSession, session)
                await call_next(delivery)
                await session.commit()
            finally:
                self._current.reset(token)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction outside the worker (an HTTP request, a script), without the inbox.

        Enters a container scope (or re-enters the active one), opens a session,
        puts it into the scope (handlers ask for ``AsyncSession`` by type) and
        points :attr:`emitter` at it, so emitted events become outbox rows in
        this transaction. Commits when the block ends normally; an exception
        (or a cancellation) rolls everything back and propagates. Handlers must
        not commit themselves. Not nestable: one unit of work per task at a time.
        """
        if self._current.get() is not None:
            raise ConfigurationError(
                "a unit of work is already running in this task; send the command "
                "through the mediator instead of opening a second transaction"
            )
        # Leaving the session rolls back whatever did not commit.
        async with self.container.scope(), self.session_factory() as session:
            token = self._current.set(session)
            try:
                self._provide(AsyncSession, session)
                yield session
                await session.commit()
            finally:
                self._current.reset(token)

    async def after_dead_letter(self, delivery: Delivery) -> None:
        """Record a dead-lettered event, so that a redelivery is not handled again."""
        event = delivery.event
        if self.inbox is None or event is None:
            return
        async with self.session_factory() as session, session.begin():
            await self.inbox.record(
                session, event.event_id, event.event_name, status=InboxStatus.DEAD_LETTERED
            )

    async def purge(self) -> int:
        """Delete inbox records older than the retention now; how many. Errors are logged."""
        return await self._purger.purge()

    def _duplicate(self, delivery: Delivery) -> None:
        self.duplicates += 1
        delivery.duplicate = True
        event: Any = delivery.event
        # DEBUG: a redelivery storm would log a line per message; metrics count them.
        logger.debug("skipping %s %s: already handled here", event.event_name, event.event_id)
