"""An engine on PostgreSQL, MariaDB or SQLite (``database`` is parametrized over the three)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 60})

        @sa.event.listens_for(engine.sync_engine, "connect")
        def _wal(dbapi_connection: Any, _: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()

        return engine
    return create_async_engine(url, pool_size=10, max_overflow=20)


@pytest.fixture(params=["postgres", "mariadb", "sqlite"])
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    kind = request.param
    if kind == "postgres":
        url = str(request.getfixturevalue("postgres_url"))
    elif kind == "mariadb":
        url = str(request.getfixturevalue("mysql_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'inbox.db'}"
    engine = make_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
