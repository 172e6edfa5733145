"""examples/fastapi_service.py runs: as a program on SQLite, and in-process on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from examples import fastapi_service
from tests.support.names import unique_name

ROOT = Path(__file__).resolve().parents[2]


def test_the_program_plays_its_session_on_sqlite(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    result = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-m",
            "examples.fastapi_service",
            f"sqlite+aiosqlite:///{tmp_path / 'shop.db'}",
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == ["201", "409", "200", "404", "422"]
    assert "application/problem+json" in lines[1]
    assert lines[-1] == "events waiting for the relay: 1"


@pytest.mark.postgres
async def test_the_service_on_postgresql(postgres_url: str) -> None:
    prefix = unique_name("shop").replace("-", "_")[:30]
    schema = fastapi_service.Schema(prefix)
    engine = create_async_engine(postgres_url)
    try:
        pending = await fastapi_service.main(postgres_url, prefix=prefix)
        async with engine.connect() as conn:
            orders = await conn.scalar(sa.select(sa.func.count()).select_from(schema.orders))
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()
    assert (orders, pending) == (1, 1)  # the declined order left neither its row nor its event
