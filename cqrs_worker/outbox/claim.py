"""The relay's statements: claim a batch, then mark it published or failed.

The order-keeping rule lives here. A relay may publish a row of partition key
``K`` only if every earlier unpublished row of ``K`` is in its own batch.
Three things can stand in the way, and each is checked:

* a row of ``K`` waiting for its retry time (or ``failed``, when failed rows
  block their key): the claim query skips the whole key, so a stalled key
  never fills a batch;
* an earlier row of ``K`` locked by another relay (``SKIP LOCKED`` passed it
  by): after locking its batch the relay looks for earlier unpublished rows of
  its keys that are not in the batch, and leaves the later rows of those keys
  alone. Such a row is either still held by the other relay or was published
  and committed (the other relay commits only after the broker confirmed), so
  the order holds however the two interleave.

Rows are always selected by ``status = 'pending'``, never by an id watermark,
so a row whose transaction commits after a later id is still picked up.
"""

from __future__ import annotations

import datetime
import zlib
from collections.abc import Callable, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from itertools import groupby
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection

from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.outbox.foreign import first_foreign_rows
from cqrs_worker.outbox.locking import RowLocking
from cqrs_worker.outbox.table import OutboxStatus, PayloadEncoding

__all__ = ["ClaimQueries", "ClaimedRow"]

_PENDING = OutboxStatus.PENDING.value
_FAILED = OutboxStatus.FAILED.value
_PUBLISHED = OutboxStatus.PUBLISHED.value
_ZLIB = PayloadEncoding.ZLIB.value
_ERROR_LIMIT = 2000
# In the SQL text, not a parameter, so the planner proves the partial index's predicate.
_PENDING_ARRAY = sa.literal_column(f"ARRAY['{_PENDING}']::varchar[]", postgresql.ARRAY(sa.String()))


@dataclass(frozen=True, slots=True)
class ClaimedRow:
    """A locked row the relay is about to publish."""

    id: int
    topic: str
    partition_key: str | None
    payload: bytes
    payload_encoding: str
    headers: str
    attempts: int

    def message(self) -> OutgoingMessage:
        body = zlib.decompress(self.payload) if self.payload_encoding == _ZLIB else self.payload
        return OutgoingMessage(
            destination=self.topic,
            body=body,
            key=self.partition_key,
            headers=orjson.loads(self.headers),
        )


def _is(column: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[bool]:
    """``column = 'value'`` with the constant in the SQL text, not a parameter, so
    PostgreSQL matches the partial indexes under any (also a generic) plan."""
    return column == sa.literal(value, literal_execute=True)


def _is_any(column: sa.ColumnElement[Any], values: Sequence[str]) -> sa.ColumnElement[bool]:
    return sa.or_(*(_is(column, value) for value in values))


class ClaimQueries:
    """The claim, mark-published and mark-failed statements for one outbox table."""

    def __init__(
        self,
        table: sa.Table,
        *,
        locking: RowLocking,
        block_key_on_failure: bool,
        dialect: str = "",
    ):
        self.table = table
        self.locking = locking
        # One array parameter instead of a parameter per value: no re-prepare
        # for every batch size, and far less work per statement.
        self._arrays = dialect == "postgresql"
        self._blocking_statuses = [_PENDING, _FAILED] if block_key_on_failure else [_PENDING]
        self._block_key_on_failure = block_key_on_failure

    async def claim(
        self,
        conn: AsyncConnection,
        *,
        now: datetime.datetime,
        limit: int,
        in_flight: AbstractSet[int] = frozenset(),
    ) -> list[ClaimedRow]:
        """Lock up to ``limit`` due rows in id order; return those this relay may publish.

        ``in_flight`` are rows of this relay's earlier batches that are still
        uncommitted but will be published before this batch (or this batch is
        abandoned): they do not hold back their keys.
        """
        result = await conn.execute(self._claim_statement(now, limit))
        rows = [ClaimedRow(*row) for row in result.all()]
        if self.locking is RowLocking.NONE:
            return rows
        return await self._drop_overtaking(conn, rows, in_flight)

    async def mark_published(
        self, conn: AsyncConnection, ids: Sequence[int], *, now: datetime.datetime
    ) -> None:
        t = self.table
        await conn.execute(
            sa.update(t)
            .where(self._among(t.c.id, ids, sa.BigInteger()))
            .values(status=_PUBLISHED, published_at=now, next_attempt_at=None)
        )

    async def mark_failed(
        self,
        conn: AsyncConnection,
        rows: Sequence[ClaimedRow],
        *,
        error: str,
        now: datetime.datetime,
        max_attempts: int,
        delay: Callable[[int], float],
    ) -> int:
        """Count one failed attempt for each row; returns how many rows are now ``failed``.

        A row retries after ``delay(attempts)`` seconds; at ``max_attempts`` it
        becomes ``failed`` with ``error`` kept in ``last_error``.
        """
        t = self.table
        error = error[:_ERROR_LIMIT]
        given_up = 0
        by_attempts = sorted(rows, key=lambda r: r.attempts)
        for attempts, group in groupby(by_attempts, key=lambda r: r.attempts):
            ids = [r.id for r in group]
            done = attempts + 1
            values: dict[str, Any] = {"attempts": done, "last_error": error}
            if done >= max_attempts:
                values["status"] = _FAILED
                values["next_attempt_at"] = None
                given_up += len(ids)
            else:
                values["next_attempt_at"] = now + datetime.timedelta(seconds=delay(done))
            statement = sa.update(t).where(self._among(t.c.id, ids, sa.BigInteger()))
            await conn.execute(statement.values(values))
        return given_up

    def _claim_statement(self, now: datetime.datetime, limit: int) -> sa.Select[Any]:
        t = self.table
        held = t.alias("held")
        # Keys with a row waiting for its retry (only such rows have a future
        # next_attempt_at), and with a failed row when those block their key.
        # Uncorrelated, so each is one small index range, planned the same
        # everywhere. A whole key waits, which never reorders it.
        stalled = [
            sa.select(held.c.partition_key).where(
                held.c.next_attempt_at > now, held.c.partition_key.is_not(None)
            )
        ]
        if self._block_key_on_failure:
            stalled.append(
                sa.select(held.c.partition_key).where(
                    _is(held.c.status, _FAILED), held.c.partition_key.is_not(None)
                )
            )
        pending, order = _is(t.c.status, _PENDING), [t.c.id]
        if self._arrays:
            # PostgreSQL: ask for (status, id) order, which only the partial
            # pending index yields; a one-element ANY is no equality to fold
            # away. With stale statistics (analyzed while all rows were
            # pending) it would otherwise walk the primary key past every
            # published row, on each claim.
            pending, order = t.c.status == sa.any_(_PENDING_ARRAY), [t.c.status, t.c.id]
        statement = (
            sa.select(
                t.c.id,
                t.c.topic,
                t.c.partition_key,
                t.c.payload,
                t.c.payload_encoding,
                t.c.headers,
                t.c.attempts,
            )
            .where(
                pending,
                sa.or_(t.c.next_attempt_at.is_(None), t.c.next_attempt_at <= now),
                *[
                    sa.or_(t.c.partition_key.is_(None), t.c.partition_key.not_in(keys))
                    for keys in stalled
                ],
            )
            .order_by(*order)
            .limit(limit)
        )
        if self.locking is RowLocking.NONE:
            return statement
        return statement.with_for_update(skip_locked=self.locking is RowLocking.SKIP_LOCKED)

    async def _drop_overtaking(
        self, conn: AsyncConnection, rows: list[ClaimedRow], in_flight: AbstractSet[int]
    ) -> list[ClaimedRow]:
        keyed = [r for r in rows if r.partition_key is not None]
        if not keyed:
            return rows
        t = self.table
        known = {r.id for r in keyed} | set(in_flight)
        keys, last = list({r.partition_key for r in keyed}), keyed[-1].id
        first_foreign: dict[str, int] = {}
        if self._arrays:
            query = first_foreign_rows(
                t, keys, last, known, block_key_on_failure=self._block_key_on_failure
            )
            for key, first in await conn.execute(query):
                first_foreign[key] = min(first, first_foreign.get(key, first))
        else:
            # Every unpublished row of our keys below our last one, ours too
            # (NOT IN over a long list costs keys x ids on MySQL).
            earlier = sa.select(t.c.id, t.c.partition_key).where(
                _is_any(t.c.status, self._blocking_statuses),
                self._among(t.c.partition_key, keys, sa.Text()),
                t.c.id < last,
            )
            for id_, key in await conn.execute(earlier):
                if id_ not in known and id_ < first_foreign.get(key, id_ + 1):
                    first_foreign[key] = id_
        if not first_foreign:
            return rows
        return [
            r
            for r in rows
            if r.partition_key is None
            or r.partition_key not in first_foreign
            or r.id < first_foreign[r.partition_key]
        ]

    def _among(
        self, column: sa.ColumnElement[Any], values: Sequence[Any], of: sa.types.TypeEngine[Any]
    ) -> sa.ColumnElement[bool]:
        if self._arrays:
            return column == sa.any_(sa.bindparam(None, list(values), type_=postgresql.ARRAY(of)))
        return column.in_(values)
