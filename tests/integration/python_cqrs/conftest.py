"""A database of the test's own, since the python-cqrs samples use the default table ``outbox``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine


async def _fresh_database(server_url: str) -> AsyncIterator[str]:
    url = make_url(server_url)
    name = f"pycqrs_{uuid.uuid4().hex[:16]}"
    admin = create_async_engine(url, isolation_level="AUTOCOMMIT")
    postgres = url.get_backend_name() == "postgresql"
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f"CREATE DATABASE {name}"))
        yield url.set(database=name).render_as_string(hide_password=False)
        async with admin.connect() as conn:
            force = " WITH (FORCE)" if postgres else ""
            await conn.execute(sa.text(f"DROP DATABASE {name}{force}"))
    finally:
        await admin.dispose()


@pytest.fixture
async def postgres_database(postgres_url: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database (dropped afterwards)."""
    async for url in _fresh_database(postgres_url):
        yield url


@pytest.fixture
async def mariadb_database(mysql_url: str) -> AsyncIterator[str]:
    """A fresh, empty MariaDB database (dropped afterwards)."""
    async for url in _fresh_database(mysql_url):
        yield url
