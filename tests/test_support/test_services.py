"""The real services answer at the configured addresses; a dead one gets a clear message."""

from __future__ import annotations

import subprocess
from pathlib import Path

import aio_pika
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.support.names import unique_name
from tests.support.net import free_port
from tests.support.processes import REPO_ROOT, python_argv, python_env
from tests.support.services import (
    POSTGRES,
    RABBITMQ,
    ServiceUnavailableError,
    kafka_bootstrap_from_env,
    require,
)


async def test_rabbitmq_round_trip(rabbitmq_url: str) -> None:
    connection = await aio_pika.connect(rabbitmq_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(unique_name("support"), exclusive=True)
        await channel.default_exchange.publish(
            aio_pika.Message(body=b"ping"), routing_key=queue.name
        )
        async with queue.iterator(timeout=10) as messages:
            async for message in messages:
                async with message.process():
                    assert message.body == b"ping"
                break


async def test_postgres_answers(postgres_url: str) -> None:
    engine = create_async_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("select 1"))).scalar_one() == 1
            version = (await connection.execute(text("show server_version"))).scalar_one()
            assert version
    finally:
        await engine.dispose()


async def test_mysql_answers(mysql_url: str) -> None:
    engine = create_async_engine(mysql_url)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("select 1"))).scalar_one() == 1
            database = (await connection.execute(text("select database()"))).scalar_one()
            assert database == engine.url.database
    finally:
        await engine.dispose()


def test_an_unreachable_service_says_how_to_start_it(monkeypatch: pytest.MonkeyPatch) -> None:
    closed = free_port()
    monkeypatch.setenv(RABBITMQ.env_var, f"amqp://guest:guest@127.0.0.1:{closed}/")
    with pytest.raises(ServiceUnavailableError) as info:
        require(RABBITMQ, timeout=1.0)
    message = str(info.value)
    assert f"127.0.0.1:{closed}" in message
    assert "./dev services" in message
    assert "rabbitmq-server -detached" in message
    assert RABBITMQ.env_var in message


def test_addresses_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(POSTGRES.env_var, raising=False)
    assert POSTGRES.url == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    monkeypatch.setenv(POSTGRES.env_var, "postgresql+asyncpg://u@db.example:6543/x")
    assert POSTGRES.host_port == ("db.example", 6543)
    monkeypatch.setenv("CQRS_WORKER_TEST_KAFKA", "  ")
    assert kafka_bootstrap_from_env() is None
    monkeypatch.setenv("CQRS_WORKER_TEST_KAFKA", "127.0.0.1:9092")
    assert kafka_bootstrap_from_env() == "127.0.0.1:9092"


def test_a_fixture_of_a_dead_service_fails_the_test(tmp_path: Path) -> None:
    """Run pytest on the PostgreSQL test with the address pointing at a closed port."""
    env = python_env({POSTGRES.env_var: f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/x"})
    result = subprocess.run(
        [
            *python_argv(["-m", "pytest"]),
            "tests/test_support/test_services.py",
            "-m",
            "postgres",  # added by conftest to tests that use postgres_url
            "-p",
            "no:cacheprovider",
            "-q",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 error" in output, output
    assert "skipped" not in output, output
    assert "PostgreSQL is not reachable" in output, output
    assert "./dev services" in output, output
