"""The example's tables, both services' in one database (each would have its own).

``python -m consumers.orders.schema`` creates them in ``ORDERS_DATABASE_URL``.
Effect and compensation tables have no unique key on purpose: an effect that
happened twice would show as a second row; ``at`` (set when the row is
written) shows the order effects and compensations happened in.
"""

from __future__ import annotations

import asyncio
import datetime
import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from consumers.meetings.env import setting
from cqrs_worker.inbox import inbox_table
from cqrs_worker.outbox import OutboxRepository, outbox_table
from cqrs_worker.outbox.table import UtcDateTime
from cqrs_worker.sagas import SagaStore, saga_table


def _effects(metadata: sa.MetaData, name: str) -> sa.Table:
    return sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False, index=True),
        sa.Column("detail", sa.String(255), nullable=False, default=""),
        # Set by the writer per statement (not now(): one per transaction on PostgreSQL).
        sa.Column("at", UtcDateTime(), nullable=False, default=_now),
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Schema:
    """Table names start with ``prefix`` (``ORDERS_PREFIX``, default ``orders``)."""

    def __init__(self, prefix: str | None = None) -> None:
        p = prefix or os.environ.get("ORDERS_PREFIX", "orders")
        self.metadata = m = sa.MetaData()
        # The orders service.
        self.sagas = SagaStore(saga_table(m, name=f"{p}_sagas"))
        self.orders_inbox = inbox_table(m, name=f"{p}_inbox")
        self.orders_outbox = OutboxRepository(outbox_table(m, name=f"{p}_outbox"))
        self.payments = _effects(m, f"{p}_payments")
        self.refunds = _effects(m, f"{p}_refunds")
        # The warehouse service.
        self.warehouse_inbox = inbox_table(m, name=f"{p}_wh_inbox")
        self.warehouse_outbox = OutboxRepository(outbox_table(m, name=f"{p}_wh_outbox"))
        self.reservations = _effects(m, f"{p}_reservations")
        self.releases = _effects(m, f"{p}_releases")
        self.shipments = _effects(m, f"{p}_shipments")
        self.cancellations = _effects(m, f"{p}_cancellations")

    async def create(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)


async def _main() -> None:
    engine = create_async_engine(setting("ORDERS_DATABASE_URL"))
    try:
        await Schema().create(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
