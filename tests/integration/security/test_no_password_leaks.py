"""No password of any URL, DSN or secret setting shows in the output of a failing start-up.

Each case starts a real ``cqrs-worker run`` or ``cqrs-worker relay`` at
``DEBUG`` level (the most talkative) with a password that the service refuses
(or, for PostgreSQL with trust authentication, accepts) and checks that the
password appears nowhere in what the process printed: our messages, the
libraries' log lines, tracebacks. The settings' ``repr`` and validation
errors are covered by ``tests/unit/security/test_redaction.py``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.support.names import unique_name
from tests.support.processes import ManagedProcess, ProcessSet

SECRET = "Leak-Canary-5e1d"

pytestmark = pytest.mark.timeout(180)


def with_password(url: str, password: str = SECRET) -> str:
    parts = urlsplit(url)
    user = parts.username or "guest"
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f"{user}:{password}@{host}").geturl()


def run_args(*flags: str) -> list[str]:
    return [
        "-m",
        "cqrs_worker.cli",
        "run",
        "tests.unit.worker.sample:mediator",
        "--factory",
        "--group-id",
        unique_name("leak"),
        "--health-port",
        "0",
        "--log-level",
        "DEBUG",
        *flags,
    ]


def relay_args(example: str) -> list[str]:
    return ["-m", "cqrs_worker.cli", "relay", example, "--factory", "--log-level", "DEBUG"]


async def finished_or_failing(process: ManagedProcess, timeout: float = 45.0) -> str:
    """The output once the process exited, or once it reported an error (then it is stopped).

    Whether a start-up failure ends the process at once or is retried is not
    what these tests check; only what it prints.
    """
    # Exited first or said nothing: the output is what it is.
    with contextlib.suppress(Exception):
        await process.await_line(r"(?i)error|refused|denied|failed|cannot", timeout=timeout)
    if process.running:
        process.terminate()
        await process.wait_async(30)
    return process.output()


def assert_no_secret(output: str) -> None:
    assert output.strip(), "the process printed nothing"
    assert SECRET not in output, [line for line in output.splitlines() if SECRET in line]


async def test_run_with_a_refused_rabbitmq_password(
    rabbitmq_url: str, processes: ProcessSet
) -> None:
    worker = processes.start_python(
        run_args("--topics", "orders"),
        name="run-amqp",
        env={"CQRS_WORKER_RABBITMQ_URL": with_password(rabbitmq_url)},
    )
    assert await worker.wait_async(60) == 2
    output = worker.output()
    assert_no_secret(output)
    assert "guest:***@" in output.strip().splitlines()[-1]


async def test_run_with_a_refused_rabbitmq_password_from_a_file(
    rabbitmq_url: str, processes: ProcessSet, tmp_path: Path
) -> None:
    secret = tmp_path / "rabbitmq-url"
    secret.write_text(with_password(rabbitmq_url) + "\n")
    worker = processes.start_python(
        run_args("--topics", "orders"),
        name="run-amqp-file",
        env={"CQRS_WORKER_RABBITMQ_URL_FILE": str(secret)},
    )
    assert await worker.wait_async(60) == 2
    assert_no_secret(worker.output())


async def test_run_with_a_kafka_sasl_password(kafka_bootstrap: str, processes: ProcessSet) -> None:
    """Tansu speaks no SASL, so the worker fails at start-up, with the password in hand."""
    worker = processes.start_python(
        run_args("--kafka-bootstrap", kafka_bootstrap, "--topics", unique_name("t")),
        name="run-sasl",
        env={
            "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CQRS_WORKER_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "CQRS_WORKER_KAFKA_SASL_USERNAME": "svc",
            "CQRS_WORKER_KAFKA_SASL_PASSWORD": SECRET,
        },
    )
    assert await worker.wait_async(90) == 2
    assert_no_secret(worker.output())


async def test_run_with_an_invalid_setting_beside_the_secrets(
    rabbitmq_url: str, processes: ProcessSet
) -> None:
    worker = processes.start_python(
        run_args("--concurrency", "0"),
        name="run-invalid",
        env={
            "CQRS_WORKER_RABBITMQ_URL": with_password(rabbitmq_url),
            "CQRS_WORKER_KAFKA_SASL_PASSWORD": SECRET,  # also inconsistent: no SASL protocol
        },
    )
    assert await worker.wait_async(30) == 2
    assert_no_secret(worker.output())


async def test_relay_with_a_refused_database_password(
    mysql_url: str, rabbitmq_url: str, processes: ProcessSet
) -> None:
    relay = processes.start_python(
        relay_args("examples.outbox_relay_rabbitmq:build"),
        name="relay-mysql",
        env={
            "EXAMPLE_DATABASE_URL": with_password(mysql_url),
            "EXAMPLE_AMQP": rabbitmq_url,
            "EXAMPLE_PREFIX": "leak",
        },
    )
    assert_no_secret(await finished_or_failing(relay))


async def test_relay_with_a_database_password_postgresql_accepts(
    postgres_url: str, rabbitmq_url: str, processes: ProcessSet
) -> None:
    """Trust authentication accepts any password: the relay runs (into a missing table)."""
    relay = processes.start_python(
        [*relay_args("examples.outbox_relay_rabbitmq:build"), "--once"],
        name="relay-postgres",
        env={
            "EXAMPLE_DATABASE_URL": with_password(postgres_url),
            "EXAMPLE_AMQP": rabbitmq_url,
            "EXAMPLE_PREFIX": unique_name("leak").replace("-", "_"),
        },
    )
    assert_no_secret(await finished_or_failing(relay))


async def test_relay_with_a_refused_rabbitmq_password(
    rabbitmq_url: str, processes: ProcessSet, tmp_path: Path
) -> None:
    relay = processes.start_python(
        relay_args("examples.outbox_relay_rabbitmq:build"),
        name="relay-amqp",
        env={
            "EXAMPLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}",
            "EXAMPLE_AMQP": with_password(rabbitmq_url),
            "EXAMPLE_PREFIX": "leak",
        },
    )
    assert_no_secret(await finished_or_failing(relay))


async def test_relay_with_a_kafka_sasl_password(
    kafka_bootstrap: str, processes: ProcessSet, tmp_path: Path
) -> None:
    relay = processes.start_python(
        relay_args("examples.outbox_relay_kafka:build"),
        name="relay-sasl",
        env={
            "EXAMPLE_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}",
            "EXAMPLE_KAFKA": kafka_bootstrap,
            "EXAMPLE_PREFIX": "leak",
            "EXAMPLE_KAFKA_IDEMPOTENT": "0",
            "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
            "CQRS_WORKER_KAFKA_SASL_MECHANISM": "PLAIN",
            "CQRS_WORKER_KAFKA_SASL_USERNAME": "svc",
            "CQRS_WORKER_KAFKA_SASL_PASSWORD": SECRET,
        },
    )
    assert_no_secret(await finished_or_failing(relay))
