"""The :class:`UnitOfWorkEmitter`: emitted events go to the outbox of the running attempt."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.events import WireEvent
from cqrs_worker.outbox.repository import SqlAlchemyOutboxedEventRepository

__all__ = ["UnitOfWorkEmitter"]


class UnitOfWorkEmitter:
    """An :class:`~cqrs_worker.EventEmitter` writing to the outbox in the current unit of work.

    Get it from :attr:`UnitOfWork.emitter <cqrs_worker.inbox.UnitOfWork>` and
    pass it to ``bootstrap(emitter=...)``. An event emitted while a delivery
    attempt runs becomes an outbox row in that attempt's transaction: the
    relay publishes it only if the attempt commits; the same holds inside
    :meth:`UnitOfWork.transaction <cqrs_worker.inbox.UnitOfWork.transaction>`
    (an HTTP request). Emitting outside both raises
    :class:`~cqrs_worker.errors.ConfigurationError`.
    """

    def __init__(
        self,
        current: ContextVar[AsyncSession | None],
        repository: SqlAlchemyOutboxedEventRepository | None = None,
    ) -> None:
        self._current = current
        self.repository = repository or SqlAlchemyOutboxedEventRepository()

    async def emit(self, event: WireEvent[Any], /) -> None:
        session = self._current.get()
        if session is None:
            raise ConfigurationError(
                f"{type(event).__qualname__} was emitted outside a unit of work; this "
                f"emitter writes to the outbox of the worker's current delivery or of "
                f"UnitOfWork.transaction() only"
            )
        await self.repository.add(session, event)
