"""``cqrs-worker dlq``: bad input is one line and exit 2 before any broker is contacted."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator

import pytest

from cqrs_worker.cli import main


@pytest.fixture(autouse=True)
def no_worker_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_"):
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def logging_restored() -> Iterator[None]:
    """The CLI configures logging (root level, handlers); later tests must not inherit it."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    clients = {name: logging.getLogger(name).level for name in ("aiokafka", "aiormq", "aio_pika")}
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in clients.items():
            logging.getLogger(name).setLevel(level)


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], expected: str) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"cqrs-worker dlq {argv[1]}: ")
    assert expected in err


KAFKA = ["--kafka-bootstrap", "127.0.0.1:9"]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["dlq", "stats", "orders"], "no broker: set CQRS_WORKER_KAFKA_BOOTSTRAP"),
        (
            ["dlq", "show", "orders", *KAFKA, "--rabbitmq-url", "amqp://127.0.0.1:9/"],
            "pass --kafka or --rabbitmq",
        ),
        (["dlq", "stats", "orders", "--rabbitmq", *KAFKA], "--rabbitmq needs"),
        (
            ["dlq", "replay", "orders", *KAFKA, "--since", "1h", "--until", "2h"],
            "the time range is empty",
        ),
        (["dlq", "replay", "orders", *KAFKA, "--since", "last week"], "cannot read the time"),
        (["dlq", "replay", "orders", *KAFKA, "--count", "0"], "--count must be at least 1"),
        (["dlq", "replay", "orders", *KAFKA, "--rate", "0"], "--rate must be a positive"),
        (["dlq", "show", "orders", *KAFKA, "-n", "0"], "--limit must be positive"),
        (["dlq", "stats", "orders", *KAFKA, "--dlq-suffix", ""], "CQRS_WORKER_DLQ_SUFFIX"),
        (
            [
                "dlq",
                "replay",
                "orders",
                "--rabbitmq-url",
                "amqp://127.0.0.1:9/",
                "--from-beginning",
            ],
            "--from-beginning is for Kafka",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    _fails(capsys, argv, expected)


def test_the_worker_variables_are_read(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CQRS_WORKER_KAFKA_BOOTSTRAP", "127.0.0.1:9")
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_URL", "amqp://127.0.0.1:9/")
    _fails(capsys, ["dlq", "stats", "orders"], "both Kafka and RabbitMQ are configured")
