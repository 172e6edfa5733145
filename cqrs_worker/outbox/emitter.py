"""The :class:`OutboxEventEmitter`: emitted events become outbox rows in the unit of work."""

from __future__ import annotations

from typing import Any

from cqrs_worker.events import WireEvent
from cqrs_worker.outbox.repository import Executor, SqlAlchemyOutboxedEventRepository

__all__ = ["OutboxEventEmitter"]


class OutboxEventEmitter:
    """An :class:`~cqrs_worker.emitter.EventEmitter` that writes to the outbox.

    Give it the session (or connection) of the current unit of work: build one
    per request or message, e.g. register it in the container with the same
    scope as the session. Emitted events are inserted in that session's
    transaction and reach the broker only if it commits (at-least-once, via
    the relay); a rolled-back unit of work publishes nothing.
    """

    def __init__(
        self,
        session: Executor,
        repository: SqlAlchemyOutboxedEventRepository | None = None,
    ) -> None:
        self.session = session
        self.repository = repository or SqlAlchemyOutboxedEventRepository()

    async def emit(self, event: WireEvent[Any], /) -> None:
        await self.repository.add(self.session, event)
