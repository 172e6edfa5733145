"""A PostgreSQL outbox table for the CLI tests, a role that may only read it, free ports."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.outbox import outbox_table
from tests.support.names import unique_name
from tests.support.net import free_port

READER_ROLE = "cqrs_cli_reader"


@dataclass(frozen=True)
class Place:
    """What the command lines of a test are formatted with."""

    dsn: str
    table: str
    reader_dsn: str
    free: int

    def fill(self, text: str) -> str:
        return text.format(
            dsn=self.dsn, table=self.table, reader_dsn=self.reader_dsn, free=self.free
        )


async def _run(url: str, statements: list[str], metadata: sa.MetaData | None = None) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            if metadata is not None:
                await conn.run_sync(metadata.create_all)
            for statement in statements:
                await conn.execute(sa.text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def place(postgres_url: str) -> Iterator[Place]:
    name = unique_name("cli_outbox").replace("-", "_")[:40]
    metadata = sa.MetaData()
    outbox_table(metadata, name=name)
    asyncio.run(
        _run(
            postgres_url,
            [
                f"DO $$ BEGIN CREATE ROLE {READER_ROLE} LOGIN; "
                f"EXCEPTION WHEN duplicate_object THEN NULL; END $$",
                f"GRANT SELECT ON {name} TO {READER_ROLE}",
            ],
            metadata,
        )
    )
    url = sa.engine.make_url(postgres_url)
    reader = url.set(username=READER_ROLE).render_as_string(hide_password=False)
    try:
        yield Place(postgres_url, name, reader, free_port())
    finally:
        asyncio.run(
            _run(postgres_url, [f"DROP TABLE {name}", f"DROP FUNCTION IF EXISTS {name}_notify()"])
        )
