"""python-cqrs's outbox call shapes: the repository as a unit of work, and the relay.

python-cqrs's repository opens the session (``async with repository as
session``), collects events with a plain ``add(session, event)`` and writes
them with ``await commit(session)``. Here ``add`` keeps the event on the
session (``session.info``) and ``commit`` hands the events to our
:meth:`~cqrs_worker.outbox.OutboxRepository.add_many`, then commits: the rows
are written in the same transaction as the session's other changes, or not
at all.
"""

from __future__ import annotations

import contextvars
from types import TracebackType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.events import WireEvent
from cqrs_worker.outbox import relay
from cqrs_worker.outbox.repository import OutboxRepository
from cqrs_worker.outbox.settings import RelaySettings
from cqrs_worker.outbox.table import PayloadEncoding

__all__ = ["EventProducer", "SqlAlchemyOutboxedEventRepository", "ZlibCompressor"]

_PENDING = "cqrs_worker.compat.outbox.pending"


class ZlibCompressor:
    """python-cqrs's zlib compressor: stands for ``PayloadEncoding.ZLIB``."""

    encoding = PayloadEncoding.ZLIB


class SqlAlchemyOutboxedEventRepository:
    """python-cqrs's ``SqlAlchemyOutboxedEventRepository(session_factory, compressor)``.

    ``outbox`` is our repository that writes the rows. Each ``async with`` opens
    its own session, so one instance serves concurrent handlers.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        compressor: ZlibCompressor | None = None,
    ) -> None:
        if not isinstance(session_factory, async_sessionmaker):
            raise TypeError(
                f"SqlAlchemyOutboxedEventRepository(session_factory, compressor) takes an "
                f"async_sessionmaker, not {type(session_factory).__qualname__}; for our "
                f"repository over a Table, use cqrs_worker.outbox.OutboxRepository(table)"
            )
        self.session_factory = session_factory
        encoding = compressor.encoding if compressor is not None else PayloadEncoding.IDENTITY
        self.outbox = OutboxRepository(compression=encoding)
        self._open: contextvars.ContextVar[tuple[AsyncSession, ...]] = contextvars.ContextVar(
            f"outbox-sessions-{id(self)}", default=()
        )

    async def __aenter__(self) -> AsyncSession:
        session = self.session_factory()
        self._open.set((*self._open.get(), session))
        return session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        *outer, session = self._open.get()
        self._open.set(tuple(outer))
        session.info.pop(_PENDING, None)
        await session.close()  # rolls back what was not committed

    def add(self, session: AsyncSession, event: WireEvent[Any]) -> None:
        """Keep ``event`` for :meth:`commit` (python-cqrs's ``add`` is not awaited)."""
        if not isinstance(event, WireEvent):
            raise TypeError(
                f"only NotificationEvent/ECSTEvent go to the outbox, not {type(event).__qualname__}"
            )
        session.info.setdefault(_PENDING, []).append(event)

    async def commit(self, session: AsyncSession) -> None:
        """Write the added events into the session's transaction, then commit it."""
        pending = session.info.pop(_PENDING, [])
        await self.outbox.add_many(session, pending)
        await session.commit()

    async def rollback(self, session: AsyncSession) -> None:
        """Forget the added events and roll the session back."""
        session.info.pop(_PENDING, None)
        await session.rollback()


class EventProducer(relay.EventProducer):
    """python-cqrs's ``EventProducer(repository, broker)``: our relay on the repository's engine."""

    def __init__(
        self,
        repository: SqlAlchemyOutboxedEventRepository | AsyncEngine,
        broker: MessageBroker,
        *,
        settings: RelaySettings | None = None,
    ) -> None:
        if isinstance(repository, AsyncEngine):  # our shape, given to this name
            super().__init__(repository, broker, settings=settings)
            return
        if not isinstance(repository, SqlAlchemyOutboxedEventRepository):
            raise TypeError(
                f"EventProducer(repository, broker) takes "
                f"cqrs_worker.SqlAlchemyOutboxedEventRepository(session_factory), not "
                f"{type(repository).__qualname__}"
            )
        engine = repository.session_factory.kw.get("bind")
        if not isinstance(engine, AsyncEngine):
            raise TypeError(
                "EventProducer(repository, broker): the repository's session factory is not "
                "bound to an engine; build it with async_sessionmaker(engine)"
            )
        super().__init__(engine, broker, repository=repository.outbox, settings=settings)
