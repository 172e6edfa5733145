"""One relay cycle: claim a batch, publish it, record the outcome, commit.

Cycles of one relay form a chain so the database work of one batch overlaps
the broker round trip of the one before (``RelaySettings.concurrency`` cycles
at once). Order still holds:

* a cycle claims only after the previous one has claimed and knows which rows
  it will publish; those rows (``in_flight``) do not hold back their keys, any
  other unpublished row of the key does;
* a cycle publishes only after the previous one's publish was confirmed; if
  that publish failed, or the previous cycle died, it is abandoned: rolled
  back, its rows left pending and untouched.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import AsyncIterator, Callable
from collections.abc import Set as AbstractSet
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.outbox.batch import Batch
from cqrs_worker.outbox.claim import ClaimedRow, ClaimQueries
from cqrs_worker.outbox.locking import RowLocking
from cqrs_worker.outbox.observer import NoObserver, RelayObserver, notify
from cqrs_worker.outbox.readiness import RelayReadiness
from cqrs_worker.outbox.settings import RelaySettings
from cqrs_worker.outbox.table import OutboxStatus

__all__ = ["Cycle", "InFlight", "Outcome"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Outcome:
    claimed: int = 0
    published: int = 0
    failed: bool = False


@dataclass(eq=False)
class InFlight:
    """What a later cycle needs to know of an earlier one."""

    claimed: int = 0
    ids: frozenset[int] = frozenset()
    published: asyncio.Future[bool] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class _Abandoned(Exception):
    """The previous cycle did not publish; roll this one back untouched."""


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Cycle:
    """Runs claim-publish-record cycles for one relay."""

    def __init__(
        self,
        engine: AsyncEngine,
        broker: MessageBroker,
        claims: ClaimQueries,
        settings: RelaySettings,
        *,
        readiness: RelayReadiness | None = None,
        observer: RelayObserver | None = None,
    ) -> None:
        self.engine = engine
        self.broker = broker
        self.claims = claims
        self.settings = settings
        self.readiness = readiness or RelayReadiness()
        self.observer: RelayObserver = observer or NoObserver()
        self._in_flight: set[int] = set()

    async def run(
        self,
        *,
        previous: InFlight | None = None,
        on_claimed: Callable[[InFlight], None] = lambda _: None,
    ) -> Outcome:
        """One cycle; ``on_claimed`` is called once its rows are known (before publishing)."""
        me = InFlight()
        try:
            if self.claims.locking is RowLocking.NONE:
                return await self._unlocked(me, on_claimed)
            return await self._locked(me, previous, on_claimed)
        except _Abandoned:
            return Outcome(claimed=me.claimed, failed=True)
        finally:
            if not me.published.done():
                me.published.set_result(False)
            self._in_flight.difference_update(me.ids)
            self.readiness.beat()

    async def _locked(
        self, me: InFlight, previous: InFlight | None, on_claimed: Callable[[InFlight], None]
    ) -> Outcome:
        async with self._connection() as conn, conn.begin():
            rows = await self._claim(conn, in_flight=self._in_flight)
            batch = Batch(rows)
            batch.prepare()
            me.claimed, me.ids = len(rows), frozenset(r.id for r in batch.sendable)
            self._in_flight.update(me.ids)
            on_claimed(me)
            if previous is not None and not await asyncio.shield(previous.published):
                raise _Abandoned
            seconds = await self._publish(batch)
            me.published.set_result(batch.error is None)
            await self._record(conn, batch)
        self._report(batch, seconds)
        return Outcome(len(rows), len(batch.published), failed=batch.error is not None)

    async def _unlocked(self, me: InFlight, on_claimed: Callable[[InFlight], None]) -> Outcome:
        # No row locks (SQLite): short transactions, one cycle at a time.
        async with self._connection() as conn:
            async with conn.begin():
                rows = await self._claim(conn)
            batch = Batch(rows)
            batch.prepare()
            me.claimed = len(rows)
            on_claimed(me)
            seconds = await self._publish(batch)
            me.published.set_result(batch.error is None)
            async with conn.begin():
                await self._record(conn, batch)
        self._report(batch, seconds)
        return Outcome(len(rows), len(batch.published), failed=batch.error is not None)

    async def _claim(
        self, conn: AsyncConnection, in_flight: AbstractSet[int] = frozenset()
    ) -> list[ClaimedRow]:
        started = time.perf_counter()
        rows = await self.claims.claim(
            conn, now=_utcnow(), limit=self.settings.batch_size, in_flight=in_flight
        )
        self.readiness.up("database")
        notify(self.observer.claimed, len(rows), time.perf_counter() - started)
        return rows

    async def _publish(self, batch: Batch) -> float:
        """Publish ``batch``; the seconds it took. Marks the broker up or down."""
        started = time.perf_counter()
        await batch.publish(self.broker)
        if batch.error is not None:
            self.readiness.down("broker", batch.error)
        elif batch.published:
            self.readiness.up("broker")
        return time.perf_counter() - started

    def _report(self, batch: Batch, seconds: float) -> None:
        """After the commit: what the batch did (only committed outcomes count)."""
        if batch.published:
            notify(self.observer.published, len(batch.published), seconds)
        elif batch.error is not None:
            notify(self.observer.publish_failed, len(batch.sendable), seconds)
        if batch.unreadable:
            notify(self.observer.publish_failed, len(batch.unreadable), None)

    async def _record(self, conn: AsyncConnection, batch: Batch) -> None:
        now = _utcnow()
        if batch.published:
            await self.claims.mark_published(conn, [r.id for r in batch.published], now=now)
        for rows, error in batch.failures():
            given_up = await self.claims.mark_failed(
                conn,
                rows,
                error=error,
                now=now,
                max_attempts=self.settings.max_attempts,
                delay=self.settings.retry_after,
            )
            log = logger.error if given_up else logger.warning
            log(
                "publishing %d outbox row(s) failed (%d now marked %s): %s",
                len(rows),
                given_up,
                OutboxStatus.FAILED.value,
                error,
            )

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn:
            if self.engine.dialect.name in ("postgresql", "mysql", "mariadb"):
                # No gap locks on InnoDB; each statement sees the latest commits.
                await conn.execution_options(isolation_level="READ COMMITTED")
            yield conn
