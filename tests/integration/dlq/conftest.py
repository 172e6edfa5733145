"""A rig for the replay scenarios: tables on PostgreSQL, a worker process, the ``dlq`` CLI."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from tests.integration.dlq.app import Tables, tables
from tests.integration.dlq.support import Cli, dlq_cli
from tests.support.processes import ManagedProcess, ProcessSet


@dataclass
class Rig:
    """The test's tables, its "the fix is deployed" file and its worker."""

    engine: AsyncEngine
    database_url: str
    tables: Tables
    suffix: str
    fixed: Path
    processes: ProcessSet
    cli_env: dict[str, str] = field(default_factory=dict)
    worker: ManagedProcess | None = None

    def start_worker(self, settings: Mapping[str, str]) -> ManagedProcess:
        env = {
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_MAX_ATTEMPTS": "2",
            "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
            "CQRS_WORKER_RETRY_MAX_DELAY": "0.05",
            "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
            "DLQ_APP_DB": self.database_url,
            "DLQ_APP_SUFFIX": self.suffix,
            "DLQ_APP_FIXED": str(self.fixed),
            **settings,
        }
        self.worker = self.processes.start_python(
            ["-m", "cqrs_worker.cli", "run", "tests.integration.dlq.app:build", "--factory"],
            name="dlq-worker",
            env=env,
        )
        self.worker.wait_for_line("running", timeout=60)
        return self.worker

    def dlq(self, *args: str) -> Cli:
        result = dlq_cli(*args, env=self.cli_env)
        assert result.returncode == 0, f"dlq {args} exited {result.returncode}: {result.stderr}"
        return result

    async def effects(self) -> Counter[str]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(self.tables.effects.c.user_id))
            return Counter(user for (user,) in rows)

    async def inbox(self) -> Counter[str]:
        """Inbox records by status."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(self.tables.inbox.c.status))
            return Counter(status for (status,) in rows)

    async def wait(
        self, what: str, check: Callable[[], Awaitable[bool]], *, timeout: float = 60.0
    ) -> None:
        """Wait until ``check`` returns true; fail at once if the worker died."""
        deadline = time.monotonic() + timeout
        while not await check():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} after {timeout:.0f}s")
            if self.worker is not None and not self.worker.running:
                raise RuntimeError(f"{self.worker.describe()} exited:\n{self.worker.tail()}")
            await asyncio.sleep(0.1)

    async def wait_duplicates(self, count: int, *, timeout: float = 60.0) -> None:
        worker = self.worker
        assert worker is not None

        async def seen() -> bool:
            return worker.output().count("already handled here") >= count

        await self.wait(f"{count} duplicates skipped", seen, timeout=timeout)


@pytest.fixture
async def rig(postgres_url: str, processes: ProcessSet, tmp_path: Path) -> AsyncIterator[Rig]:
    suffix = uuid.uuid4().hex[:12]
    metadata = sa.MetaData()
    t = tables(metadata, suffix)
    engine = create_async_engine(postgres_url, pool_size=2)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        yield Rig(
            engine=engine,
            database_url=postgres_url,
            tables=t,
            suffix=suffix,
            fixed=tmp_path / "fixed",
            processes=processes,
        )
    finally:
        processes.stop_all()
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
