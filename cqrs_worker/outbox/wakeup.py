"""Waking an idle relay early: PostgreSQL ``LISTEN`` on the outbox table's channel.

The table's trigger (see :mod:`cqrs_worker.outbox.table`) notifies at commit
of every transaction that inserted rows. Elsewhere, or if the listening
connection is lost, the relay still polls: a missed wake-up costs at most one
idle pause, never a row.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Wakeup"]

logger = logging.getLogger(__name__)


class Wakeup:
    """An idle pause that ends early when :meth:`set` is called or a NOTIFY arrives."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._channel = ""

    def set(self) -> None:
        self._event.set()

    async def pause(self, seconds: float) -> None:
        """Sleep up to ``seconds``; return at once if woken since the last pause."""
        try:
            async with asyncio.timeout(seconds):
                await self._event.wait()
        except TimeoutError:
            pass
        self._event.clear()

    async def listen(self, engine: AsyncEngine, channel: str) -> None:
        """LISTEN on ``channel`` over a connection of its own (PostgreSQL with asyncpg only)."""
        if engine.dialect.name != "postgresql" or engine.dialect.driver != "asyncpg":
            return
        try:
            self._conn = await engine.connect()
            raw = await self._conn.get_raw_connection()
            self._driver = raw.driver_connection
            self._channel = channel
            await self._driver.add_listener(channel, self._notified)
        except Exception:  # polling still works; say why waking up early does not
            logger.warning("cannot LISTEN on %r; the relay will poll", channel, exc_info=True)
            await self.close()

    async def close(self) -> None:
        conn, driver, self._conn, self._driver = self._conn, self._driver, None, None
        if driver is not None:
            try:
                await driver.remove_listener(self._channel, self._notified)
            except Exception:  # the connection may already be gone
                logger.debug("removing the LISTEN callback failed", exc_info=True)
        if conn is not None:
            await conn.close()

    def _notified(self, *_: object) -> None:
        self._event.set()
