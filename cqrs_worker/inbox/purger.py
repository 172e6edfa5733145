"""The :class:`InboxPurger`: deletes inbox records past their retention, now and then."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cqrs_worker.inbox.repository import Inbox
from cqrs_worker.inbox.settings import UnitOfWorkSettings

__all__ = ["InboxPurger"]

logger = logging.getLogger(__name__)

_CHUNK = 5_000


class InboxPurger:
    """Purges ``inbox`` records older than ``settings.retention``.

    :meth:`due` starts a purge in a background task when ``purge_interval``
    has passed since the last one (never two at once); :meth:`purge` runs one
    now. Each chunk of deletions is a short transaction of its own.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        inbox: Inbox | None,
        settings: UnitOfWorkSettings,
    ) -> None:
        self._session_factory = session_factory
        self._inbox = inbox
        self._settings = settings
        self._next = time.monotonic() + settings.purge_interval
        self._running: asyncio.Task[int] | None = None

    def due(self) -> None:
        """Start a purge in the background if one is due."""
        if self._settings.retention is None or time.monotonic() < self._next:
            return
        if self._running is None or self._running.done():
            self._next = time.monotonic() + self._settings.purge_interval
            self._running = asyncio.create_task(self.purge(), name="cqrs-worker-inbox-purge")

    async def purge(self) -> int:
        """Delete the records past retention; how many. Errors are logged (the next one retries)."""
        self._next = time.monotonic() + self._settings.purge_interval
        retention = self._settings.retention
        if self._inbox is None or retention is None:
            return 0
        before = datetime.datetime.now(datetime.UTC) - retention
        total = 0
        try:
            while True:
                async with self._session_factory() as session, session.begin():
                    count = await self._inbox.purge(session, before=before, limit=_CHUNK)
                total += count
                if count < _CHUNK:
                    break
        except Exception as exc:  # handling goes on; the next purge tries again
            logger.warning("inbox purge failed (%s: %s)", type(exc).__name__, exc)
        if total:
            logger.info("purged %d inbox records older than %s", total, before.isoformat())
        return total
