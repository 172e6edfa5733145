"""Waking an idle relay early: PostgreSQL ``LISTEN`` on the outbox table's channel.

The table's trigger (see :mod:`cqrs_worker.outbox.table`) notifies at commit
of every transaction that inserted rows. Elsewhere, or if the listening
connection is lost, the relay still polls: a missed wake-up costs at most one
idle pause, never a row. A listening connection lost in a database outage is
opened again (:meth:`Wakeup.relisten`) once the database answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

__all__ = ["Wakeup"]

logger = logging.getLogger(__name__)

#: After a failed LISTEN, how long before trying again.
_RELISTEN_EVERY = 10.0


class Wakeup:
    """An idle pause that ends early when :meth:`set` is called or a NOTIFY arrives."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._conn: AsyncConnection | None = None
        self._driver: Any = None
        self._channel = ""
        self._engine: AsyncEngine | None = None
        self._failed_at = float("-inf")
        self._warned = False

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
        self._engine, self._channel = engine, channel
        try:
            self._conn = await engine.connect()
            raw = await self._conn.get_raw_connection()
            self._driver = raw.driver_connection
            await self._driver.add_listener(channel, self._notified)
        except Exception:  # polling still works; say why waking up early does not
            log = logger.debug if self._warned else logger.warning
            log("cannot LISTEN on %r; the relay will poll", channel, exc_info=True)
            self._warned = True
            self._failed_at = time.monotonic()
            await self._release()

    @property
    def listening(self) -> bool:
        """Whether a NOTIFY would wake the pause now."""
        return self._driver is not None and not self._driver.is_closed()

    async def relisten(self) -> None:
        """Listen again if the connection was lost (call once the database answers)."""
        engine = self._engine
        if engine is None or time.monotonic() - self._failed_at < _RELISTEN_EVERY:
            return
        if self.listening:
            return
        await self._release()
        try:
            async with asyncio.timeout(_RELISTEN_EVERY):
                await self.listen(engine, self._channel)
        except TimeoutError:
            self._failed_at = time.monotonic()
            await self._release()

    async def close(self) -> None:
        self._engine = None
        await self._release()

    async def _release(self) -> None:
        conn, driver, self._conn, self._driver = self._conn, self._driver, None, None
        if driver is not None:
            try:
                await driver.remove_listener(self._channel, self._notified)
            except Exception:  # the connection may already be gone
                logger.debug("removing the LISTEN callback failed", exc_info=True)
        if conn is not None:
            # A connection lost in an outage must not go back to the pool (the
            # next LISTEN would get it); closing it may fail: it is gone anyway.
            with contextlib.suppress(Exception):
                if driver is not None and driver.is_closed():
                    await conn.invalidate()
                await conn.close()

    def _notified(self, *_: object) -> None:
        self._event.set()
