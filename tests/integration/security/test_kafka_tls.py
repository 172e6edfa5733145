"""Kafka over TLS end to end: a real worker and a real relay reach a broker only TLS can reach.

The broker (Tansu) sits behind a TLS-terminating proxy and advertises the
proxy's address, so every connection (bootstrap, group coordinator, fetches,
the dead-letter producer, the relay's producer) is TLS with certificates the
test made. Finding 4 of issue 9: before, none of these clients had a TLS
setting at all.
"""

from __future__ import annotations

from pathlib import Path

import trustme

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from cqrs_worker.security import KafkaSecuritySettings
from examples.outbox_write import OrderPlaced, Placed, Schema
from tests.integration.security.kafka_tls import read_topic, tls_env, worker_args
from tests.support.kafka import create_topic
from tests.support.names import unique_name
from tests.support.processes import ProcessSet
from tests.support.proxy import ProxiedTansu
from tests.support.tls import TestPKI
from tests.unit.worker.sample import placed


def client_security(pki: TestPKI) -> dict[str, object]:
    return {"security_protocol": "SSL", "ssl_context": pki.client_context()}


async def test_a_worker_consumes_and_dead_letters_over_tls(
    tls_kafka: ProxiedTansu, pki: TestPKI, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    bootstrap = tls_kafka.bootstrap
    await create_topic(bootstrap, topic_name, 2, **client_security(pki))
    worker = processes.start_python(
        worker_args(bootstrap, group_id, topic_name), name="worker", env=tls_env(pki)
    )
    await worker.await_line(rf"running: sources kafka, topics {topic_name}", timeout=60)

    # The publisher side: kafka_producer_factory with the same settings, given in code.
    security = KafkaSecuritySettings(kafka_security_protocol="SSL", kafka_ssl_cafile=pki.ca_file)
    broker = KafkaMessageBroker(
        kafka_producer_factory(bootstrap, enable_idempotence=False, security=security)
    )
    await broker.start()
    events = [placed(n, key=str(n % 3)).model_copy(update={"topic": topic_name}) for n in range(20)]
    await broker.publish(
        [OutgoingMessage.from_event(event) for event in events]
        + [OutgoingMessage(topic_name, b"not json", headers={"event_name": "OrderPlaced"})]
    )
    await broker.close()
    await worker.await_line("dead-lettering OrderPlaced", timeout=30)

    # The dead letter went out through the worker's dead-letter producer, over TLS too.
    (dead,) = await read_topic(bootstrap, f"{topic_name}.dlq", 1, **client_security(pki))
    assert dead.value == b"not json"
    worker.terminate()
    assert await worker.wait_async(30) == 0
    assert (
        "stats: received=21, handled=20, retried=0, dead_lettered=1"
    )  # handled excludes dead letters in worker.output()
    assert tls_kafka.proxy.failed_handshakes == 0


async def test_the_relay_publishes_outbox_rows_over_tls(
    tls_kafka: ProxiedTansu, pki: TestPKI, tmp_path: Path, processes: ProcessSet
) -> None:
    bootstrap = tls_kafka.bootstrap
    topic = unique_name("orders")
    await create_topic(bootstrap, topic, 2, **client_security(pki))
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    schema = Schema("tls")
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:
        await schema.create(engine)
        async with engine.begin() as conn:
            await schema.outbox.add_many(
                conn,
                [
                    OrderPlaced(
                        payload=Placed(order_id=f"o{n}", total=n),
                        partition_key=f"o{n % 4}",
                        topic=topic,
                    )
                    for n in range(50)
                ],
            )
    finally:
        await engine.dispose()

    # examples/outbox_relay_kafka builds its producer with kafka_producer_factory and
    # no security argument: the CQRS_WORKER_KAFKA_* variables alone turn TLS on.
    relay = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "relay",
            "examples.outbox_relay_kafka:build",
            "--factory",
            "--once",
        ],
        name="relay",
        env={
            "EXAMPLE_DATABASE_URL": url,
            "EXAMPLE_KAFKA": bootstrap,
            "EXAMPLE_PREFIX": "tls",
            "EXAMPLE_KAFKA_IDEMPOTENT": "0",
            **tls_env(pki),
        },
    )
    assert await relay.wait_async(60) == 0, relay.tail()
    records = await read_topic(bootstrap, topic, 50, **client_security(pki))
    assert sorted(r.key for r in records) == sorted(f"o{n % 4}".encode() for n in range(50))


async def test_mutual_tls_with_an_encrypted_client_key_from_a_file(
    mtls_kafka: ProxiedTansu, pki: TestPKI, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    bootstrap = mtls_kafka.bootstrap
    await create_topic(bootstrap, topic_name, 1, **client_security(pki))
    worker = processes.start_python(
        worker_args(bootstrap, group_id, topic_name),
        name="worker",
        env=tls_env(pki, client_cert=True),
    )
    await worker.await_line(rf"running: sources kafka, topics {topic_name}", timeout=60)
    worker.terminate()
    assert await worker.wait_async(30) == 0
    assert pki.key_password not in worker.output()

    # Without the client certificate the same broker refuses the worker at start-up.
    refused = processes.start_python(
        worker_args(bootstrap, unique_name("group"), topic_name),
        name="no-client-cert",
        env=tls_env(pki),
    )
    assert await refused.wait_async(60) == 2
    last = refused.output().strip().splitlines()[-1]
    assert last.startswith("cqrs-worker run: TLS with Kafka at"), refused.tail()
    assert "client certificate" in last
    assert "CQRS_WORKER_KAFKA_SSL_CERTFILE" in last
    assert "Traceback" not in refused.output()


async def test_a_wrong_ca_fails_at_start_up_with_one_line(
    tls_kafka: ProxiedTansu, pki: TestPKI, tmp_path: Path, topic_name: str, processes: ProcessSet
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    await create_topic(tls_kafka.bootstrap, topic_name, 1, **client_security(pki))
    worker = processes.start_python(
        worker_args(tls_kafka.bootstrap, unique_name("group"), topic_name),
        name="wrong-ca",
        env={**tls_env(pki), "CQRS_WORKER_KAFKA_SSL_CAFILE": str(other_ca)},
    )
    assert await worker.wait_async(60) == 2
    output = worker.output()
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("cqrs-worker run: "), worker.tail()
    assert "certificate verify failed" in last
    assert "CQRS_WORKER_KAFKA_SSL_CAFILE" in last


async def test_the_relay_names_the_tls_problem_with_a_wrong_ca(
    tls_kafka: ProxiedTansu, pki: TestPKI, tmp_path: Path, processes: ProcessSet
) -> None:
    other_ca = tmp_path / "other-ca.pem"
    trustme.CA().cert_pem.write_to_path(str(other_ca))
    url = f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}"
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    try:  # the relay checks its table before the broker
        await Schema().create(engine)
    finally:
        await engine.dispose()
    relay = processes.start_python(
        ["-m", "cqrs_worker.cli", "relay", "examples.outbox_relay_kafka:build", "--factory"],
        name="relay-wrong-ca",
        env={
            "EXAMPLE_DATABASE_URL": url,
            "EXAMPLE_KAFKA": tls_kafka.bootstrap,
            "EXAMPLE_KAFKA_IDEMPOTENT": "0",
            **tls_env(pki),
            "CQRS_WORKER_KAFKA_SSL_CAFILE": str(other_ca),
        },
    )
    # A broker the relay cannot reach at start-up is a configuration error: one
    # line naming the TLS problem and the setting, exit 2.
    assert await relay.wait_async(60) == 2
    output = relay.output()
    assert "Traceback" not in output
    last = output.strip().splitlines()[-1]
    assert last.startswith("cqrs-worker relay: "), relay.tail()
    assert "certificate verify failed" in last
    assert "CQRS_WORKER_KAFKA_SSL_CAFILE" in last
