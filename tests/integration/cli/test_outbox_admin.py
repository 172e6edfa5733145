"""``cqrs-worker outbox``: a DSN and a table are enough; the DSN's password is never shown."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker.outbox import OutboxRepository, outbox_table
from tests.integration.cli.commands import RELAY, cli
from tests.integration.outbox.conftest import step
from tests.support.names import unique_name
from tests.support.net import free_port


@pytest.fixture
async def outbox(postgres_url: str) -> AsyncIterator[OutboxRepository]:
    """A table with two pending rows and one failed row."""
    metadata = sa.MetaData()
    repository = OutboxRepository(
        outbox_table(metadata, name=unique_name("admin").replace("-", "_")[:40])
    )
    engine = create_async_engine(postgres_url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.create_all)
            await repository.add_many(
                conn, [step("t", "a", 1), step("t", "b", 1), step("t", "c", 1)]
            )
            await conn.execute(
                sa.update(repository.table)
                .where(repository.table.c.partition_key == "c")
                .values(status="failed", last_error="boom")
            )
        yield repository
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


def _with_password(url: str, password: str) -> str:
    return sa.engine.make_url(url).set(password=password).render_as_string(hide_password=False)


def test_status_and_requeue_from_flags(postgres_url: str, outbox: OutboxRepository) -> None:
    table = outbox.table.name

    status = cli("outbox", "status", "--dsn", postgres_url, "--table", table)
    requeue = cli("outbox", "requeue", "--all-failed", "--dsn", postgres_url, "--table", table)
    after = cli("outbox", "status", "--dsn", postgres_url, "--table", table)

    assert (status.returncode, status.stdout.splitlines()[:2]) == (0, ["pending: 2", "failed: 1"])
    assert (requeue.returncode, requeue.stdout) == (0, "requeued 1 row(s)\n")
    assert after.stdout.splitlines()[:2] == ["pending: 3", "failed: 0"]


def test_dsn_and_table_from_the_environment(postgres_url: str, outbox: OutboxRepository) -> None:
    result = cli(
        "outbox",
        "failed",
        CQRS_WORKER_OUTBOX_DSN=postgres_url,
        CQRS_WORKER_OUTBOX_TABLE=outbox.table.name,
    )

    assert result.returncode == 0, result.stderr
    assert "topic=t key=c attempts=0" in result.stdout
    assert "boom" in result.stdout


def test_the_relay_factory_still_works_and_its_broker_is_not_needed(
    postgres_url: str, outbox: OutboxRepository
) -> None:
    result = cli(
        "outbox",
        "status",
        RELAY,
        "--factory",
        CLI_TEST_DSN=postgres_url,
        CLI_TEST_TABLE=outbox.table.name,
        CLI_TEST_AMQP=f"amqp://guest:guest@127.0.0.1:{free_port()}/",  # nothing listens
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("pending: 2\nfailed: 1\n")


def test_the_password_is_never_shown(postgres_url: str, outbox: OutboxRepository) -> None:
    password = f"pw-{uuid.uuid4().hex}"
    # PostgreSQL here trusts local connections, so the password is sent but not checked.
    good = _with_password(postgres_url, password)
    closed = _with_password(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/test", password)
    runs = [
        (0, ["outbox", "status", "--dsn", good, "--table", outbox.table.name], {}),
        (2, ["outbox", "status", "--dsn", good, "--table", "no_such_outbox"], {}),
        (2, ["outbox", "purge", "--older-than", "1", "--dsn", closed], {}),
        (2, ["outbox", "failed"], {"CQRS_WORKER_OUTBOX_DSN": closed}),
        (2, ["outbox", "status", "--dsn", good.replace("+asyncpg", "+nodriver")], {}),
        (2, ["outbox", "status", "--dsn", good.replace("postgresql+asyncpg", "postgresql")], {}),
    ]
    for code, args, env in runs:
        result = cli(*args, **env)

        assert result.returncode == code, result.stderr
        assert password not in result.stdout + result.stderr, args
        assert "Traceback" not in result.stderr


def test_the_dsn_from_a_mounted_secret_file(
    postgres_url: str, outbox: OutboxRepository, tmp_path: Path
) -> None:
    secret = tmp_path / "dsn"
    secret.write_text(postgres_url + "\n")

    result = cli(
        "outbox",
        "status",
        "--table",
        outbox.table.name,
        CQRS_WORKER_OUTBOX_DSN_FILE=str(secret),
    )
    missing = cli("outbox", "status", CQRS_WORKER_OUTBOX_DSN_FILE=str(tmp_path / "nope"))

    assert (result.returncode, result.stdout.splitlines()[0]) == (0, "pending: 2"), result.stderr
    assert missing.returncode == 2
    assert "CQRS_WORKER_OUTBOX_DSN_FILE: cannot read" in missing.stderr
