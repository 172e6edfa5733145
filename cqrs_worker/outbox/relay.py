"""The relay: :class:`EventProducer` moves committed outbox rows to the broker.

The delivery contract, in one place:

* A row is claimed (locked) in a database transaction, published, and marked
  ``published`` in the same transaction, which commits only after the broker
  confirmed the whole batch. So a row is published at least once: a relay that
  dies before the commit leaves its rows ``pending`` and unlocked, and they are
  published again (consumers deduplicate by ``event_id``).
* Rows with one partition key are published in ``id`` order, also with several
  relays and several batches in flight (see :mod:`cqrs_worker.outbox.claim`).
* A failed publish counts one attempt for each row of the batch; the row
  waits (exponential backoff) and, after ``max_attempts``, becomes ``failed``
  with its error, until requeued (:meth:`SqlAlchemyOutboxedEventRepository.requeue`
  or ``cqrs-worker outbox requeue``).
* Stopping (``stop`` set, e.g. by SIGTERM in the CLI) lets each batch in hand
  finish and commit, which releases its locks; then the broker is closed.

Outages: a database or broker error never ends :meth:`EventProducer.run`.
A cycle that loses its database connection rolls back (its rows stay
pending; rows the broker already has are published again: consumers
deduplicate), and the relay tries again after a pause that doubles up to
10 s. While a dependency is down, :attr:`EventProducer.readiness` says so
(``/readyz`` of ``cqrs-worker relay`` answers 503 naming it).

On SQLite (no row locks) each batch is read, published and marked in separate
short transactions so writers are never held up; run one relay per database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
from collections.abc import AsyncIterator
from types import TracebackType

from sqlalchemy.ext.asyncio import AsyncEngine

from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.errors import PublishError
from cqrs_worker.observability.tracing import traced_broker
from cqrs_worker.outbox.chain import database_failure, run_chain
from cqrs_worker.outbox.claim import ClaimQueries
from cqrs_worker.outbox.cycle import Cycle
from cqrs_worker.outbox.locking import RowLocking, row_locking
from cqrs_worker.outbox.observer import NoObserver, RelayObserver
from cqrs_worker.outbox.readiness import RelayReadiness
from cqrs_worker.outbox.repository import SqlAlchemyOutboxedEventRepository
from cqrs_worker.outbox.settings import RelaySettings
from cqrs_worker.outbox.table import notify_channel
from cqrs_worker.outbox.wakeup import Wakeup

__all__ = ["EventProducer"]

logger = logging.getLogger(__name__)

#: The longest pause between attempts while the database or the broker is away.
_MAX_FAILURE_PAUSE = 10.0


class EventProducer:
    """Relays the outbox table of ``repository`` on ``engine`` to ``broker``.

    ``run()`` owns the broker's lifecycle (start, close); for one-off use,
    ``async with producer: await producer.drain()``. Replace :attr:`settings`
    and :attr:`observer` (told of every claim and publish, e.g. metrics) only
    before ``run()``. :attr:`readiness` says which dependency is down.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        broker: MessageBroker,
        *,
        repository: SqlAlchemyOutboxedEventRepository | None = None,
        settings: RelaySettings | None = None,
    ) -> None:
        if not isinstance(engine, AsyncEngine):
            raise TypeError(
                f"EventProducer(engine, broker) takes an AsyncEngine first, not "
                f"{type(engine).__qualname__}; python-cqrs's EventProducer(repository, broker) "
                f"is cqrs_worker.EventProducer"
            )
        self.engine = engine
        self.broker = broker
        self.repository = repository or SqlAlchemyOutboxedEventRepository()
        self.settings = settings or RelaySettings()
        self.observer: RelayObserver = NoObserver()
        self.readiness = RelayReadiness()
        self._wakeup = Wakeup()

    async def __aenter__(self) -> EventProducer:
        await self.broker.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.broker.close()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Start the broker, relay until ``stop`` is set, let batches in hand finish, close."""
        stop = stop or asyncio.Event()
        if not await self._start_broker(stop):
            self.readiness.stopping()
            return
        cycle = await self._cycle()
        depth = self._depth(cycle)
        logger.info(
            "relaying outbox table %r to %s: batches of %d, %d in flight, row locking %s",
            cycle.claims.table.name,
            type(self.broker).__name__,
            self.settings.batch_size,
            depth,
            cycle.claims.locking.value,
        )
        try:
            async with self._listening(), asyncio.TaskGroup() as tasks:
                tasks.create_task(self._wake_on(stop))
                tasks.create_task(self._relay(cycle, depth, stop))
                if self.settings.retention is not None:
                    tasks.create_task(self._retention(stop))
        finally:
            self.readiness.stopping()
            await self.broker.close()
        logger.info("relay of outbox table %r stopped", cycle.claims.table.name)

    async def drain(self) -> int:
        """Publish every row that is due now, batch after batch; returns how many.

        Stops at the first failed publish (those rows wait for their retry).
        The broker must be started (``async with producer``).
        """
        cycle = await self._cycle()
        total = 0
        while True:
            outcome = await cycle.run()
            total += outcome.published
            if outcome.failed or outcome.published == 0:
                return total

    async def purge(self) -> int:
        """Delete published rows older than ``settings.retention``; returns how many."""
        retention = self.settings.retention
        if retention is None:
            return 0
        before, total = _utcnow() - retention, 0
        while True:
            async with self.engine.begin() as conn:
                deleted = await self.repository.purge(conn, before=before, limit=5000)
            total += deleted
            if deleted < 5000:
                return total

    async def _relay(self, cycle: Cycle, depth: int, stop: asyncio.Event) -> None:
        idle, failure_pause = self.settings.idle_delay, self.settings.retry_delay
        while not stop.is_set():
            self.readiness.beat()
            outcome = await run_chain(cycle, depth, stop)
            if outcome.failed:
                await _sleep_unless(stop, failure_pause)
                failure_pause = min(failure_pause * 2, _MAX_FAILURE_PAUSE)
                continue
            failure_pause = self.settings.retry_delay
            if outcome.published:
                idle = self.settings.idle_delay
                continue
            if self.readiness.is_up("database"):
                await self._wakeup.relisten()
            # A broker is known to be back only by a publish that works. With
            # nothing to publish for two retry periods, the outage is over as
            # far as anyone can tell.
            self.readiness.expire("broker", after=2 * self.settings.max_retry_delay)
            # Nothing due, or every claimed row waits behind another relay's batch.
            await self._wakeup.pause(idle)
            idle = min(idle * 2, self.settings.max_idle_delay)

    async def _start_broker(self, stop: asyncio.Event) -> bool:
        pause = self.settings.retry_delay
        while not stop.is_set():
            self.readiness.beat()
            try:
                await self.broker.start()
                self.readiness.up("broker")
                return True
            except PublishError as exc:
                self.readiness.down("broker", str(exc))
                logger.warning("broker not reachable, retrying in %.1fs: %s", pause, exc)
            await _sleep_unless(stop, pause)
            pause = min(pause * 2, _MAX_FAILURE_PAUSE)
        return False

    async def _retention(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                deleted = await self.purge()
                if deleted:
                    logger.info("deleted %d published outbox row(s) past retention", deleted)
            except Exception as exc:  # an outage; the next round deletes what this one did not
                logger.warning(
                    "outbox retention failed, trying again later: %s", database_failure(exc)
                )
            await _sleep_unless(stop, self.settings.retention_interval)

    async def _wake_on(self, stop: asyncio.Event) -> None:
        await stop.wait()
        self._wakeup.set()

    @contextlib.asynccontextmanager
    async def _listening(self) -> AsyncIterator[None]:
        if self.settings.listen:
            await self._wakeup.listen(self.engine, notify_channel(self.repository.table))
        try:
            yield
        finally:
            await self._wakeup.close()

    def _depth(self, cycle: Cycle) -> int:
        if cycle.claims.locking is RowLocking.SKIP_LOCKED:
            return self.settings.concurrency
        return 1  # without SKIP LOCKED a second claim would wait for the first

    async def _cycle(self) -> Cycle:
        async with self.engine.connect():  # so the dialect knows the server version
            pass
        claims = ClaimQueries(
            self.repository.table,
            locking=row_locking(self.engine.dialect),
            block_key_on_failure=self.settings.block_key_on_failure,
            dialect=self.engine.dialect.name,
        )
        # A PRODUCER span per row when a tracer provider is set (decided here, per start).
        return Cycle(
            self.engine,
            traced_broker(self.broker),
            claims,
            self.settings,
            readiness=self.readiness,
            observer=self.observer,
        )


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await stop.wait()
