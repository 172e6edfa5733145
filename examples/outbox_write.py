"""Business rows and an outbox event, written in one transaction.

Run from the repository root: ``python -m examples.outbox_write [DATABASE_URL]``
(default: a SQLite file).
The order row and its ``OrderPlaced`` event commit together; when the unit of
work fails, neither exists, so nothing is ever published for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, create_async_engine

from cqrs_worker import NotificationEvent
from cqrs_worker.outbox import OutboxRepository, OutboxStats, outbox_table


class Placed(pydantic.BaseModel):
    order_id: str
    total: int


class OrderPlaced(NotificationEvent[Placed]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class Schema:
    """The application's tables: orders, and the outbox beside them."""

    def __init__(self, prefix: str = "example") -> None:
        self.metadata = sa.MetaData()
        self.orders = sa.Table(
            f"{prefix}_orders",
            self.metadata,
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("total", sa.Integer, nullable=False),
        )
        self.outbox = OutboxRepository(outbox_table(self.metadata, name=f"{prefix}_outbox"))

    async def create(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)


async def place_order(
    session: AsyncSession, schema: Schema, total: int, *, fail: bool = False
) -> str:
    """One unit of work: the order row and its event, committed together."""
    order_id = str(uuid.uuid4())
    async with session.begin():
        await session.execute(sa.insert(schema.orders).values(id=order_id, total=total))
        event = OrderPlaced(payload=Placed(order_id=order_id, total=total), partition_key=order_id)
        await schema.outbox.add(session, event)
        if fail:
            raise ValueError("payment declined")  # rolls back the order and the event
    return order_id


async def main(url: str, *, prefix: str = "example") -> OutboxStats:
    engine = create_async_engine(url)
    schema = Schema(prefix)
    try:
        await schema.create(engine)
        async with AsyncSession(engine) as session:
            await place_order(session, schema, 100)
            with contextlib.suppress(ValueError):  # the declined payment
                await place_order(session, schema, 999, fail=True)
        async with engine.connect() as conn:
            stats = await schema.outbox.stats(conn)
        print(f"events waiting for the relay: {stats.pending}")  # 1: the failed order left none
        return stats
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite+aiosqlite:///outbox_example.db"))
