"""The order check's query on PostgreSQL: :func:`first_foreign_rows`.

See :mod:`cqrs_worker.outbox.claim` for the rule it serves.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from cqrs_worker.outbox.table import OutboxStatus

__all__ = ["first_foreign_rows"]


def _is(column: sa.ColumnElement[Any], value: str) -> sa.ColumnElement[bool]:
    # The constant in the SQL text, so the planner matches the partial indexes.
    return column == sa.literal(value, literal_execute=True)


def first_foreign_rows(
    table: sa.Table,
    keys: list[str | None],
    last: int,
    known: AbstractSet[int],
    *,
    block_key_on_failure: bool,
) -> sa.CompoundSelect[Any]:
    """Unpublished rows below ``last`` that are not ``known``: ``(key, first id)`` per key.

    Pending rows: one short lookup per key in the unpublished index (a
    correlated subquery cannot become a scan of the table), which reads only
    that key's backlog and leaves out our own rows with a hashed anti-join. A
    range over ``id`` would read every published row below ``last``, and the
    planner picks one whenever the statistics are stale (analyzed while those
    rows were pending). Failed rows, when they block, are few: one range of
    their own. A key may come back twice (pending and failed); usually
    nothing comes back.
    """
    t = table
    ours = sa.func.unnest(sa.bindparam(None, list(known), type_=postgresql.ARRAY(sa.BigInteger())))
    keys_param = sa.bindparam(None, keys, type_=postgresql.ARRAY(sa.Text()))
    key = sa.func.unnest(keys_param).table_valued("key").render_derived()
    first_pending = (
        sa.select(t.c.id)
        .where(
            _is(t.c.status, OutboxStatus.PENDING.value),
            t.c.partition_key == key.c.key,
            t.c.id < last,
            t.c.id.not_in(sa.select(ours).scalar_subquery()),
        )
        .order_by(t.c.id)
        .limit(1)
        .scalar_subquery()
    )
    per_key = sa.select(key.c.key, first_pending.label("first")).subquery()
    parts = [sa.select(per_key.c.key, per_key.c.first).where(per_key.c.first.is_not(None))]
    if block_key_on_failure:
        parts.append(
            sa.select(t.c.partition_key, sa.func.min(t.c.id))
            .where(
                _is(t.c.status, OutboxStatus.FAILED.value),
                t.c.partition_key == sa.any_(keys_param),
                t.c.id < last,
            )
            .group_by(t.c.partition_key)
        )
    return sa.union_all(*parts)
