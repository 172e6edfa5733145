"""The :class:`Inbox`: records handled events in the caller's transaction, and purges them.

:meth:`Inbox.record` inserts ``(consumer, event_id)`` unless it is there
already and says which happened; it never commits. Run it first in the
transaction that also holds the handler's writes: the record and the effects
then commit together or not at all. While another transaction holds an
uncommitted record of the same event, the insert waits for it (PostgreSQL,
MariaDB/MySQL row locks; SQLite's single writer) and then sees its outcome.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox.table import InboxStatus, inbox_table

__all__ = ["Inbox"]

Executor = AsyncSession | AsyncConnection


class Inbox:
    """The inbox of one consumer (``consumer``: usually its consumer group).

    ``table`` comes from :func:`~cqrs_worker.inbox.inbox_table` (default: a
    table named ``inbox`` on a private :class:`~sqlalchemy.MetaData`).
    """

    def __init__(self, *, consumer: str, table: sa.Table | None = None) -> None:
        if not consumer or len(consumer) > 255:
            raise ConfigurationError("the inbox consumer name must be 1 to 255 characters")
        self.consumer = consumer
        self.table = table if table is not None else inbox_table(sa.MetaData())
        self._inserts: dict[str, sa.Executable] = {}

    async def record(
        self,
        db: Executor,
        event_id: uuid.UUID,
        event_name: str,
        *,
        status: InboxStatus = InboxStatus.HANDLED,
    ) -> bool:
        """Insert the record in ``db``'s transaction; ``False`` if the event was recorded before."""
        result: Any = await db.execute(
            self._insert(_dialect(db)),
            {
                "consumer": self.consumer,
                "event_id": event_id,
                "event_name": event_name,
                "status": status.value,
                "recorded_at": datetime.datetime.now(datetime.UTC),
            },
        )
        return bool(result.rowcount)

    async def record_many(
        self, db: Executor, events: Sequence[tuple[uuid.UUID, str]], /
    ) -> set[uuid.UUID]:
        """:meth:`record` for several ``(event_id, event_name)``; the ids recorded now.

        One statement on PostgreSQL and SQLite; one per event on MariaDB/MySQL.
        """
        dialect = _dialect(db)
        now = datetime.datetime.now(datetime.UTC)
        rows: list[dict[str, Any]] = [
            {
                "consumer": self.consumer,
                "event_id": event_id,
                "event_name": name,
                "status": InboxStatus.HANDLED.value,
                "recorded_at": now,
            }
            for event_id, name in events
        ]
        if not rows:
            return set()
        if dialect not in ("postgresql", "sqlite"):
            statement = self._insert(dialect)
            recorded: set[uuid.UUID] = set()
            for row in rows:
                result: Any = await db.execute(statement, row)
                if result.rowcount:
                    recorded.add(row["event_id"])
            return recorded
        returning = self._insert(dialect).returning(self.table.c.event_id)  # type: ignore[attr-defined]  # an Insert of this dialect
        return set((await db.execute(returning, rows)).scalars())

    async def resume_dead_lettered(self, db: Executor, event_id: uuid.UUID) -> bool:
        """Make ``event_id``'s ``dead-lettered`` record ``handled``; ``False`` if it is not one.

        For a copy replayed from a dead-letter queue (:mod:`cqrs_worker.dlq`):
        it is handled once more, in ``db``'s transaction, exactly once — the
        update locks the record, so a concurrent replay of the same event
        waits and then finds it ``handled``. A rollback leaves it dead-lettered.
        """
        t = self.table
        result: Any = await db.execute(
            sa.update(t)
            .where(
                t.c.consumer == self.consumer,
                t.c.event_id == event_id,
                t.c.status == InboxStatus.DEAD_LETTERED.value,
            )
            .values(
                status=InboxStatus.HANDLED.value, recorded_at=datetime.datetime.now(datetime.UTC)
            )
        )
        return bool(result.rowcount)

    async def status(self, db: Executor, event_id: uuid.UUID) -> InboxStatus | None:
        """What became of ``event_id`` here, or ``None`` if it was never recorded."""
        t = self.table
        value = (
            await db.execute(
                sa.select(t.c.status).where(t.c.consumer == self.consumer, t.c.event_id == event_id)
            )
        ).scalar()
        return None if value is None else InboxStatus(value)

    async def purge(self, db: Executor, *, before: datetime.datetime, limit: int = 10_000) -> int:
        """Delete up to ``limit`` of this consumer's records older than ``before``; count them.

        Call again while it returns ``limit``. A redelivery of an event whose
        record was purged is handled again: keep records longer than the
        broker may redeliver (its retention, plus consumer lag).
        """
        t = self.table
        ids = (
            (
                await db.execute(
                    sa.select(t.c.event_id)
                    .where(t.c.consumer == self.consumer, t.c.recorded_at < before)
                    .order_by(t.c.recorded_at)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        if ids:
            await db.execute(
                sa.delete(t).where(t.c.consumer == self.consumer, t.c.event_id.in_(ids))
            )
        return len(ids)

    def _insert(self, dialect: str) -> sa.Executable:
        statement = self._inserts.get(dialect)
        if statement is None:
            statement = self._inserts[dialect] = _insert_if_absent(self.table, dialect)
        return statement


def _dialect(db: Executor) -> str:
    if isinstance(db, AsyncSession):
        return db.get_bind().dialect.name
    return db.dialect.name


def _insert_if_absent(table: sa.Table, dialect: str) -> sa.Executable:
    """An INSERT that does nothing (rowcount 0) when the key exists, in this dialect."""
    if dialect == "postgresql":
        return postgresql.insert(table).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(table).on_conflict_do_nothing()
    if dialect in ("mysql", "mariadb"):
        # IGNORE also turns other errors into warnings; every value here is
        # ours and within the column sizes, so only the duplicate key is left.
        return sa.insert(table).prefix_with("IGNORE")
    raise ConfigurationError(
        f"the inbox supports PostgreSQL, MariaDB/MySQL and SQLite, not {dialect!r}"
    )
