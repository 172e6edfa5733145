"""SASL against a real Apache Kafka: runs only when one with a SASL listener is given.

Tansu (the default test broker) has no SASL, so these tests need
``CQRS_WORKER_TEST_KAFKA`` (a real Apache Kafka) and a SASL listener
described by:

* ``CQRS_WORKER_TEST_KAFKA_SASL_MECHANISM`` -- ``PLAIN``, ``SCRAM-SHA-256`` or
  ``SCRAM-SHA-512`` (required; without it the tests are skipped);
* ``CQRS_WORKER_TEST_KAFKA_SASL_USERNAME`` / ``_SASL_PASSWORD``;
* ``CQRS_WORKER_TEST_KAFKA_SASL_BOOTSTRAP`` -- the SASL listener (default:
  ``CQRS_WORKER_TEST_KAFKA``);
* ``CQRS_WORKER_TEST_KAFKA_SECURITY_PROTOCOL`` -- ``SASL_PLAINTEXT`` (default)
  or ``SASL_SSL`` with ``CQRS_WORKER_TEST_KAFKA_SSL_CAFILE``.

The client configuration for every mechanism is tested always, without a
broker, in ``tests/unit/security/test_kafka.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from cqrs_worker.security import KafkaSecuritySettings, aiokafka_options
from tests.integration.security.kafka_tls import worker_args
from tests.support.kafka import create_topic
from tests.support.names import unique_name
from tests.support.processes import ProcessSet
from tests.unit.worker.sample import placed

_T = "CQRS_WORKER_TEST_KAFKA"

pytestmark = pytest.mark.skipif(
    not (os.environ.get(_T) and os.environ.get(f"{_T}_SASL_MECHANISM")),
    reason=(
        f"needs {_T} (a real Apache Kafka) and {_T}_SASL_MECHANISM/_USERNAME/_PASSWORD for "
        f"its SASL listener; Tansu, the default test broker, has no SASL"
    ),
)


def sasl_bootstrap() -> str:
    return os.environ.get(f"{_T}_SASL_BOOTSTRAP") or os.environ[_T]


def worker_env(tmp_path: Path, password: str | None = None) -> dict[str, str]:
    """The worker's CQRS_WORKER_KAFKA_* for the SASL listener; the password from a file."""
    secret = tmp_path / "kafka-password"
    secret.write_text((password or os.environ[f"{_T}_SASL_PASSWORD"]) + "\n")
    env = {
        "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": os.environ.get(
            f"{_T}_SECURITY_PROTOCOL", "SASL_PLAINTEXT"
        ),
        "CQRS_WORKER_KAFKA_SASL_MECHANISM": os.environ[f"{_T}_SASL_MECHANISM"],
        "CQRS_WORKER_KAFKA_SASL_USERNAME": os.environ[f"{_T}_SASL_USERNAME"],
        "CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE": str(secret),
    }
    if os.environ.get(f"{_T}_SSL_CAFILE"):
        env["CQRS_WORKER_KAFKA_SSL_CAFILE"] = os.environ[f"{_T}_SSL_CAFILE"]
    return env


def publisher_security() -> KafkaSecuritySettings:
    cafile = os.environ.get(f"{_T}_SSL_CAFILE")
    return KafkaSecuritySettings(
        kafka_security_protocol=os.environ.get(f"{_T}_SECURITY_PROTOCOL", "SASL_PLAINTEXT"),
        kafka_sasl_mechanism=os.environ[f"{_T}_SASL_MECHANISM"],
        kafka_sasl_username=os.environ[f"{_T}_SASL_USERNAME"],
        kafka_sasl_password=os.environ[f"{_T}_SASL_PASSWORD"],
        kafka_ssl_cafile=Path(cafile) if cafile else None,
    )


async def test_a_worker_authenticates_consumes_and_dead_letters(
    topic_name: str, group_id: str, processes: ProcessSet, tmp_path: Path
) -> None:
    bootstrap, security = sasl_bootstrap(), publisher_security()
    await create_topic(bootstrap, topic_name, 2, **aiokafka_options(security))
    worker = processes.start_python(
        worker_args(bootstrap, group_id, topic_name), name="worker", env=worker_env(tmp_path)
    )
    await worker.await_line(rf"running: sources kafka, topics {topic_name}", timeout=60)
    broker = KafkaMessageBroker(kafka_producer_factory(bootstrap, security=security))
    await broker.start()
    events = [placed(n, key=str(n % 3)).model_copy(update={"topic": topic_name}) for n in range(10)]
    await broker.publish(
        [OutgoingMessage.from_event(event) for event in events]
        + [OutgoingMessage(topic_name, b"not json", headers={"event_name": "OrderPlaced"})]
    )
    await broker.close()
    await worker.await_line("dead-lettering OrderPlaced", timeout=60)
    worker.terminate()
    assert await worker.wait_async(30) == 0
    assert "stats: received=11, handled=11, retried=0, dead_lettered=1" in worker.output()


async def test_a_wrong_password_fails_at_start_up_without_showing_it(
    processes: ProcessSet, tmp_path: Path
) -> None:
    wrong = f"wrong-{unique_name('pw')}"
    worker = processes.start_python(
        worker_args(sasl_bootstrap(), unique_name("group"), unique_name("t")),
        name="wrong-password",
        env=worker_env(tmp_path, password=wrong),
    )
    assert await worker.wait_async(90) == 2
    output = worker.output()
    assert wrong not in output
    assert output.strip().splitlines()[-1].startswith("cqrs-worker run: ")
