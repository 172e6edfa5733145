"""``cqrs-worker dlq`` against brokers that say no: one line, exit 2, within its timeout."""

from __future__ import annotations

import time

import pytest

from tests.integration.dlq.support import dlq_cli
from tests.support.kafka import create_topic
from tests.support.net import free_port


def _one_line(result_stderr: str, expected: str) -> None:
    assert result_stderr.count("\n") == 1, result_stderr
    assert expected in result_stderr, result_stderr
    assert "Traceback" not in result_stderr


@pytest.mark.kafka
async def test_kafka_unknown_topic(kafka_bootstrap: str, topic_name: str) -> None:
    await create_topic(kafka_bootstrap, topic_name, 1)  # the topic, but no dead-letter topic
    result = dlq_cli("stats", topic_name, env={"CQRS_WORKER_KAFKA_BOOTSTRAP": kafka_bootstrap})
    assert result.returncode == 2
    _one_line(result.stderr, f"has no topic '{topic_name}.dlq'")


def test_kafka_unreachable() -> None:
    started = time.monotonic()
    result = dlq_cli(
        "replay",
        "orders",
        "--timeout",
        "3",
        env={"CQRS_WORKER_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"},
    )
    assert result.returncode == 2
    _one_line(result.stderr, "cannot read from Kafka at 127.0.0.1:")
    assert time.monotonic() - started < 30, "bounded by --timeout"


@pytest.mark.rabbitmq
def test_rabbitmq_unknown_queue(rabbitmq_url: str) -> None:
    result = dlq_cli("show", "no-such-queue-here", env={"CQRS_WORKER_RABBITMQ_URL": rabbitmq_url})
    assert result.returncode == 2
    _one_line(result.stderr, "has no queue 'no-such-queue-here.dlq'")


def test_rabbitmq_unreachable() -> None:
    url = f"amqp://guest:secret-pw@127.0.0.1:{free_port()}/"
    result = dlq_cli("stats", "orders", "--timeout", "3", env={"CQRS_WORKER_RABBITMQ_URL": url})
    assert result.returncode == 2
    _one_line(result.stderr, "cannot connect to RabbitMQ at")
    assert "secret-pw" not in result.stderr, "the password is redacted"
