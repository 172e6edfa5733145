"""The example's tables: participants and welcomes, each service's inbox, the outbox.

``python -m consumers.meetings.schema`` creates them in ``MEETINGS_DATABASE_URL``.
"""

from __future__ import annotations

import asyncio
import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from consumers.meetings.env import setting
from cqrs_worker.inbox import inbox_table
from cqrs_worker.outbox import OutboxRepository, outbox_table


class Schema:
    """Table names start with ``prefix`` (``MEETINGS_PREFIX``, default ``meetings``)."""

    def __init__(self, prefix: str | None = None) -> None:
        prefix = prefix or os.environ.get("MEETINGS_PREFIX", "meetings")
        self.metadata = sa.MetaData()
        self.participants = sa.Table(
            f"{prefix}_participants",
            self.metadata,
            sa.Column("meeting", sa.String(64), primary_key=True),
            sa.Column("user_id", sa.String(64), primary_key=True),
        )
        self.welcomes = sa.Table(
            f"{prefix}_welcomes",
            self.metadata,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("user_id", sa.String(64), nullable=False),
            sa.Column("meeting", sa.String(64), nullable=False),
        )
        self.meetings_inbox = inbox_table(self.metadata, name=f"{prefix}_inbox")
        self.outbox = OutboxRepository(outbox_table(self.metadata, name=f"{prefix}_outbox"))

    async def create(self, engine: AsyncEngine) -> None:
        async with engine.begin() as conn:
            await conn.run_sync(self.metadata.create_all)


async def _main() -> None:
    engine = create_async_engine(setting("MEETINGS_DATABASE_URL"))
    try:
        await Schema().create(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    asyncio.run(_main())
