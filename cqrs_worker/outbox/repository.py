"""The outbox repository: writes events in the caller's transaction, and the admin calls.

:meth:`~SqlAlchemyOutboxedEventRepository.add` runs one ``INSERT`` on the
session or connection it is given and never commits: the event becomes visible
to the relay when, and only if, the caller's transaction commits. A rolled-back
transaction leaves no row, so nothing is published.

``event_id`` is unique: adding the same event twice raises the driver's
``IntegrityError`` inside the caller's transaction.
"""

from __future__ import annotations

import datetime
import uuid
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cqrs_worker.dataclass_models import DCNotificationEvent
from cqrs_worker.envelope import encode_event, event_headers
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.events import WireEvent
from cqrs_worker.outbox.table import OutboxStatus, PayloadEncoding, outbox_table

__all__ = [
    "Executor",
    "OutboxRecord",
    "OutboxRepository",
    "OutboxStats",
    "SqlAlchemyOutboxedEventRepository",
]

#: Where statements run: the caller's session or connection (never committed here).
Executor = AsyncSession | AsyncConnection


@dataclass(frozen=True, slots=True)
class OutboxRecord:
    """One outbox row as the admin calls show it (payload left out)."""

    id: int
    event_id: uuid.UUID
    event_name: str
    topic: str
    partition_key: str | None
    status: OutboxStatus
    attempts: int
    last_error: str | None
    created_at: datetime.datetime
    next_attempt_at: datetime.datetime | None


@dataclass(frozen=True, slots=True)
class OutboxStats:
    """Rows waiting and failed, and the age of the oldest waiting row."""

    pending: int
    failed: int
    oldest_pending_at: datetime.datetime | None


class SqlAlchemyOutboxedEventRepository:
    """Writes broker events into the outbox table in the caller's transaction.

    ``table`` comes from :func:`~cqrs_worker.outbox.outbox_table` (default: a
    table named ``outbox`` on a private :class:`~sqlalchemy.MetaData`).
    ``compression=PayloadEncoding.ZLIB`` stores payloads zlib-compressed; each
    row records its encoding, so rows written before and after a change decode
    alike. Debezium cannot decompress: leave compression off if it tails the table.
    """

    def __init__(
        self,
        table: sa.Table | None = None,
        *,
        compression: PayloadEncoding = PayloadEncoding.IDENTITY,
    ) -> None:
        if table is not None and not isinstance(table, sa.Table):
            raise TypeError(
                f"SqlAlchemyOutboxedEventRepository(table) takes the outbox Table "
                f"(outbox_table(metadata)) or nothing, not {type(table).__qualname__}; "
                f"python-cqrs's SqlAlchemyOutboxedEventRepository(session_factory, compressor) "
                f"is cqrs_worker.SqlAlchemyOutboxedEventRepository"
            )
        self.table = table if table is not None else outbox_table(sa.MetaData())
        self.compression = PayloadEncoding(compression)

    async def add(self, db: Executor, event: WireEvent[Any] | DCNotificationEvent[Any], /) -> None:
        """Insert ``event`` in ``db``'s current transaction; the caller commits."""
        await db.execute(sa.insert(self.table).values(self.row(event)))

    async def add_many(
        self, db: Executor, events: Iterable[WireEvent[Any] | DCNotificationEvent[Any]], /
    ) -> None:
        """Insert several events with one statement, in their iteration order."""
        rows = [self.row(event) for event in events]
        if rows:
            await db.execute(sa.insert(self.table), rows)

    def row(self, event: WireEvent[Any] | DCNotificationEvent[Any]) -> dict[str, Any]:
        """The column values for ``event`` (what :meth:`add` inserts).

        A python-cqrs dataclass notification is stored as our envelope.
        """
        if isinstance(event, DCNotificationEvent):
            event = event.to_wire()
        if not isinstance(event, WireEvent):
            raise ConfigurationError(
                f"only broker events (NotificationEvent, ECSTEvent) go to the outbox, "
                f"not {type(event).__qualname__}"
            )
        payload = encode_event(event)
        if self.compression is PayloadEncoding.ZLIB:
            payload = zlib.compress(payload)
        return {
            "event_id": event.event_id,
            "event_name": event.event_name,
            "topic": event.topic,
            "partition_key": event.partition_key,
            "payload": payload,
            "payload_encoding": self.compression.value,
            "headers": orjson.dumps(event_headers(event)).decode(),
            "status": OutboxStatus.PENDING.value,
            "attempts": 0,
            "created_at": datetime.datetime.now(datetime.UTC),
        }

    async def failed(self, db: Executor, *, limit: int = 100) -> list[OutboxRecord]:
        """Rows the relay gave up on, oldest first, with their last error."""
        return await self._records(db, OutboxStatus.FAILED, limit)

    async def pending(self, db: Executor, *, limit: int = 100) -> list[OutboxRecord]:
        """Rows still waiting to be published, oldest first."""
        return await self._records(db, OutboxStatus.PENDING, limit)

    async def requeue(self, db: Executor, event_ids: Iterable[uuid.UUID], /) -> int:
        """Make the failed rows of ``event_ids`` pending again, with a fresh retry budget."""
        ids = list(event_ids)
        if not ids:
            return 0
        return await self._requeue(db, self.table.c.event_id.in_(ids))

    async def requeue_failed(self, db: Executor) -> int:
        """Make every failed row pending again. Returns how many."""
        return await self._requeue(db, sa.true())

    async def purge(
        self,
        db: Executor,
        *,
        before: datetime.datetime,
        status: OutboxStatus = OutboxStatus.PUBLISHED,
        limit: int = 10_000,
    ) -> int:
        """Delete rows of ``status`` older than ``before`` among the ``limit`` oldest; count them.

        Published rows age by ``published_at``, others by ``created_at``. Only
        the ``limit`` lowest ids of ``status`` are looked at (an index range,
        cheap however big the table), so a row published late may outlive
        ``before`` a little. Call again while it returns ``limit``.
        """
        t = self.table
        stamp = t.c.published_at if status is OutboxStatus.PUBLISHED else t.c.created_at
        oldest = await db.execute(
            sa.select(t.c.id, stamp).where(t.c.status == status.value).order_by(t.c.id).limit(limit)
        )
        ids = [id_ for id_, at in oldest if at is not None and at < before]
        if ids:
            await db.execute(sa.delete(t).where(t.c.id.in_(ids)))
        return len(ids)

    async def stats(self, db: Executor) -> OutboxStats:
        """How many rows wait or failed, and when the oldest waiting one was written."""
        t = self.table
        counts: dict[str, int] = {
            status: count
            for status, count in await db.execute(
                sa.select(t.c.status, sa.func.count())
                .where(t.c.status.in_([OutboxStatus.PENDING.value, OutboxStatus.FAILED.value]))
                .group_by(t.c.status)
            )
        }
        oldest = (
            await db.execute(
                sa.select(t.c.created_at)
                .where(t.c.status == OutboxStatus.PENDING.value)
                .order_by(t.c.id)
                .limit(1)
            )
        ).scalar()
        return OutboxStats(
            pending=counts.get(OutboxStatus.PENDING.value, 0),
            failed=counts.get(OutboxStatus.FAILED.value, 0),
            oldest_pending_at=oldest,
        )

    async def _records(self, db: Executor, status: OutboxStatus, limit: int) -> list[OutboxRecord]:
        t = self.table
        result = await db.execute(
            sa.select(
                t.c.id,
                t.c.event_id,
                t.c.event_name,
                t.c.topic,
                t.c.partition_key,
                t.c.status,
                t.c.attempts,
                t.c.last_error,
                t.c.created_at,
                t.c.next_attempt_at,
            )
            .where(t.c.status == status.value)
            .order_by(t.c.id)
            .limit(limit)
        )
        return [_record(row) for row in result]

    async def _requeue(self, db: Executor, condition: sa.ColumnElement[bool]) -> int:
        t = self.table
        result = await db.execute(
            sa.update(t)
            .where(t.c.status == OutboxStatus.FAILED.value, condition)
            .values(status=OutboxStatus.PENDING.value, attempts=0, next_attempt_at=None)
        )
        return int(getattr(result, "rowcount", 0))


def _record(row: Sequence[Any]) -> OutboxRecord:
    (id_, event_id, name, topic, key, status, attempts, error, created, next_at) = row
    return OutboxRecord(
        id=id_,
        event_id=event_id,
        event_name=name,
        topic=topic,
        partition_key=key,
        status=OutboxStatus(status),
        attempts=attempts,
        last_error=error,
        created_at=created,
        next_attempt_at=next_at,
    )


#: The short name.
OutboxRepository = SqlAlchemyOutboxedEventRepository
