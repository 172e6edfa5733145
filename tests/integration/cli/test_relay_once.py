"""``cqrs-worker relay --once``: 0 when everything due went out, 1 when something failed.

And a mixed-case outbox table made from ``cqrs-worker outbox ddl`` works on
PostgreSQL end to end: created, written (its trigger fires), relayed.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import aio_pika
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from cqrs_worker.outbox import OutboxRepository, outbox_table
from tests.integration.cli.commands import RELAY, cli
from tests.integration.outbox.conftest import step
from tests.support.names import unique_name


@pytest.fixture
async def engine(postgres_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(postgres_url)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _create(engine: AsyncEngine, name: str) -> OutboxRepository:
    metadata = sa.MetaData()
    table = outbox_table(metadata, name=name)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    return OutboxRepository(table)


async def _drop(engine: AsyncEngine, repository: OutboxRepository) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(repository.table.metadata.drop_all)


async def _statuses(engine: AsyncEngine, repository: OutboxRepository) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(repository.table.c.status))
        return [status for (status,) in rows]


def _relay_once(postgres_url: str, rabbitmq_url: str, table: str, *args: str) -> tuple[int, str]:
    result = cli(
        "relay",
        RELAY,
        "--factory",
        "--once",
        *args,
        CLI_TEST_DSN=postgres_url,
        CLI_TEST_TABLE=table,
        CLI_TEST_AMQP=rabbitmq_url,
    )
    assert "Traceback" not in result.stderr
    return result.returncode, result.stderr


async def test_a_row_marked_failed_exits_1(
    engine: AsyncEngine, postgres_url: str, rabbitmq_url: str
) -> None:
    # The default exchange returns a message for a queue that does not exist.
    repository = await _create(engine, unique_name("once_failed").replace("-", "_")[:40])
    try:
        async with engine.begin() as conn:
            await repository.add(conn, step(unique_name("no-queue"), "k", 1))

        code, stderr = _relay_once(
            postgres_url, rabbitmq_url, repository.table.name, "--max-attempts", "1"
        )

        assert code == 1, stderr
        assert "1 row(s) newly marked failed" in stderr
        assert await _statuses(engine, repository) == ["failed"]
    finally:
        await _drop(engine, repository)


async def test_a_failed_publish_that_will_be_retried_exits_1(
    engine: AsyncEngine, postgres_url: str, rabbitmq_url: str
) -> None:
    repository = await _create(engine, unique_name("once_retry").replace("-", "_")[:40])
    try:
        async with engine.begin() as conn:
            await repository.add(conn, step(unique_name("no-queue"), "k", 1))

        code, stderr = _relay_once(postgres_url, rabbitmq_url, repository.table.name)

        assert code == 1, stderr
        assert "1 publish(es) failed, 0 row(s) newly marked failed" in stderr
        assert await _statuses(engine, repository) == ["pending"]
    finally:
        await _drop(engine, repository)


async def test_a_mixed_case_table_from_the_ddl_command_is_written_and_relayed(
    engine: AsyncEngine, postgres_url: str, rabbitmq_url: str
) -> None:
    name = f"OpsOutbox{uuid.uuid4().hex[:12]}"
    queue_name = unique_name("mixed")
    ddl = cli("outbox", "ddl", "--table", name)
    assert ddl.returncode == 0, ddl.stderr
    repository = OutboxRepository(outbox_table(sa.MetaData(), name=name))
    connection = await aio_pika.connect(rabbitmq_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, auto_delete=True)
        async with engine.begin() as conn:
            for statement in ddl.stdout.split(";\n\n"):
                await conn.execute(sa.text(statement.strip().removesuffix(";")))
        async with engine.begin() as conn:  # the trigger runs on insert
            await repository.add(conn, step(queue_name, "k", 1))

        code, stderr = _relay_once(postgres_url, rabbitmq_url, name)

        assert code == 0, stderr
        assert await _statuses(engine, repository) == ["published"]
        message = await queue.get(timeout=10)
        assert message.headers["event_name"] == "StepTaken"
        await message.ack()
    finally:
        await connection.close()
        await _drop(engine, repository)
