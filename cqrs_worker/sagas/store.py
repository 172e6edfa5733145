"""The :class:`SagaStore`: reads and writes saga rows in the caller's transaction.

It never commits: a saga's new state commits with the step's effects, the
inbox record of the reply that moved it and the outbox rows it sent, or not
at all. :meth:`SagaStore.load` locks the row (``SELECT ... FOR UPDATE`` on
PostgreSQL and MariaDB/MySQL; SQLite has one writer), so a reply and the
deadline check never move one saga at the same time.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from cqrs_worker.sagas.definition import SagaStatus
from cqrs_worker.sagas.table import saga_table

__all__ = ["SagaRecord", "SagaStore"]

Executor = AsyncSession | AsyncConnection


def utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class SagaRecord:
    """One saga row. ``steps`` lists the finished steps: ``{"name", "variant",
    "compensated", "started_at", "finished_at"}`` (times as ISO text)."""

    saga_id: uuid.UUID
    name: str
    status: SagaStatus
    step: int
    variant: int
    context: dict[str, Any]
    results: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    step_started_at: datetime.datetime = field(default_factory=utcnow)
    deadline: datetime.datetime | None = None
    attempts: int = 0
    error: str | None = None
    created_at: datetime.datetime = field(default_factory=utcnow)
    updated_at: datetime.datetime = field(default_factory=utcnow)

    def row(self) -> dict[str, Any]:
        values = asdict(self)
        values["status"] = self.status.value
        return values


class SagaStore:
    """The saga table of one service (default: ``sagas`` on a private MetaData)."""

    def __init__(self, table: sa.Table | None = None) -> None:
        self.table = table if table is not None else saga_table(sa.MetaData())

    async def insert(self, db: Executor, record: SagaRecord) -> None:
        await db.execute(sa.insert(self.table).values(record.row()))

    async def save(self, db: Executor, record: SagaRecord) -> None:
        record.updated_at = utcnow()
        values = record.row()
        del values["saga_id"], values["created_at"]
        t = self.table
        await db.execute(sa.update(t).where(t.c.saga_id == record.saga_id).values(values))

    async def load(
        self, db: Executor, saga_id: uuid.UUID, *, lock: bool = True
    ) -> SagaRecord | None:
        query = sa.select(self.table).where(self.table.c.saga_id == saga_id)
        if lock:
            query = query.with_for_update()
        row = (await db.execute(query)).mappings().first()
        return None if row is None else _record(row)

    async def due(
        self, db: Executor, *, now: datetime.datetime, limit: int, skip_locked: bool
    ) -> list[SagaRecord]:
        """Running or compensating sagas whose deadline passed, locked for this transaction.

        ``skip_locked``: rows another transaction holds are left to it
        (PostgreSQL, MariaDB 10.6+, MySQL 8), so several workers share the work.
        """
        t = self.table
        query = (
            sa.select(t)
            .where(
                t.c.status.in_((SagaStatus.RUNNING.value, SagaStatus.COMPENSATING.value)),
                t.c.deadline <= now,
            )
            .order_by(t.c.deadline)
            .limit(limit)
            .with_for_update(skip_locked=skip_locked)
        )
        return [_record(row) for row in (await db.execute(query)).mappings()]

    async def counts(self, db: Executor) -> dict[tuple[str, str], int]:
        """How many sagas each definition has in each status."""
        t = self.table
        rows = await db.execute(
            sa.select(t.c.name, t.c.status, sa.func.count()).group_by(t.c.name, t.c.status)
        )
        return {(name, status): int(count) for name, status, count in rows}

    async def purge(self, db: Executor, *, before: datetime.datetime, limit: int = 10_000) -> int:
        """Delete up to ``limit`` completed or compensated sagas last moved before ``before``.

        Running, compensating and failed sagas are never purged. Call again
        while it returns ``limit``. A reply for a purged saga is logged and ignored.
        """
        t = self.table
        finished = (SagaStatus.COMPLETED.value, SagaStatus.COMPENSATED.value)
        ids = (
            (
                await db.execute(
                    sa.select(t.c.saga_id)
                    .where(t.c.status.in_(finished), t.c.updated_at < before)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
        if ids:
            await db.execute(sa.delete(t).where(t.c.saga_id.in_(ids)))
        return len(ids)

    async def listing(
        self, db: Executor, *, statuses: Sequence[SagaStatus], limit: int
    ) -> list[SagaRecord]:
        t = self.table
        query = (
            sa.select(t)
            .where(t.c.status.in_([s.value for s in statuses]))
            .order_by(t.c.updated_at.desc())
            .limit(limit)
        )
        return [_record(row) for row in (await db.execute(query)).mappings()]


def _record(row: Any) -> SagaRecord:
    values = dict(row)
    values["status"] = SagaStatus(values["status"])
    return SagaRecord(**values)
