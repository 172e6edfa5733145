"""AMQP over TLS end to end: a real worker consumes RabbitMQ through ``amqps://``.

RabbitMQ itself stays as it is (plain AMQP on 5672); a TLS-terminating proxy
in front of it requires a client certificate signed by the test's CA. The
worker gets the CA, its certificate and its encrypted key (the key's password
from a ``_FILE``) from ``CQRS_WORKER_RABBITMQ_SSL_*``; the publisher is an
``AMQPMessageBroker`` with the same files given in code.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import pytest

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from cqrs_worker.security import RabbitMQTLSSettings
from tests.integration.worker.rabbitmq.harness import RabbitWorld
from tests.support.names import unique_name
from tests.support.processes import ProcessSet
from tests.support.proxy import TcpProxy
from tests.support.tls import TestPKI
from tests.unit.worker.sample import placed


@pytest.fixture
async def world(rabbitmq_url: str) -> AsyncIterator[RabbitWorld]:
    rabbit = RabbitWorld(rabbitmq_url)
    try:
        yield rabbit
    finally:
        await rabbit.cleanup()


def amqps_url(rabbitmq_url: str, proxy: TcpProxy) -> str:
    """``rabbitmq_url`` with scheme amqps and the proxy's address."""
    parts = urlsplit(rabbitmq_url)
    credentials = parts.netloc.rpartition("@")[0]
    return parts._replace(scheme="amqps", netloc=f"{credentials}@{proxy.address}").geturl()


async def test_a_worker_consumes_over_amqps_with_a_client_certificate(
    world: RabbitWorld, rabbitmq_url: str, pki: TestPKI, processes: ProcessSet
) -> None:
    host, port = urlsplit(rabbitmq_url).hostname, urlsplit(rabbitmq_url).port
    assert host is not None
    group = unique_name("tls")
    world.queue = f"{group}.{world.topic}"  # what the worker declares; deleted at the end
    with TcpProxy(host, port or 5672, ssl=pki.server_context(require_client_cert=True)) as proxy:
        url = amqps_url(rabbitmq_url, proxy)
        worker = processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "run",
                "tests.unit.worker.sample:mediator",
                "--factory",
                "--group-id",
                group,
                "--topics",
                world.topic,
                "--rabbitmq-exchange",
                world.exchange,
                "--health-port",
                "0",
            ],
            name="worker",
            env={
                "CQRS_WORKER_RABBITMQ_URL": url,
                "CQRS_WORKER_RABBITMQ_SSL_CAFILE": str(pki.ca_file),
                "CQRS_WORKER_RABBITMQ_SSL_CERTFILE": str(pki.client_cert_file),
                "CQRS_WORKER_RABBITMQ_SSL_KEYFILE": str(pki.client_key_file),
                "CQRS_WORKER_RABBITMQ_SSL_KEY_PASSWORD_FILE": str(pki.key_password_file),
            },
        )
        await worker.await_line(r"running: sources rabbitmq", timeout=60)

        broker = AMQPMessageBroker(
            url,
            exchange=world.exchange,
            security=RabbitMQTLSSettings(
                rabbitmq_ssl_cafile=pki.ca_file,
                rabbitmq_ssl_certfile=pki.client_cert_file,
                rabbitmq_ssl_keyfile=pki.client_key_file,
                rabbitmq_ssl_key_password=pki.key_password,
            ),
        )
        await broker.start()
        events = [
            placed(n, key=str(n % 3)).model_copy(update={"topic": world.topic}) for n in range(20)
        ]
        await broker.publish([OutgoingMessage.from_event(event) for event in events])
        await broker.close()

        async with asyncio.timeout(30):  # every message delivered; SIGTERM drains the rest
            while await world.ready_count() > 0:  # noqa: ASYNC110  # polling RabbitMQ, no event to wait on
                await asyncio.sleep(0.05)
        worker.terminate()
        assert await worker.wait_async(30) == 0
        output = worker.output()
        assert proxy.total_connections >= 2  # the worker's and the publisher's, both TLS
        assert proxy.failed_handshakes == 0
    assert "stats: received=20, handled=20" in output, output[-2000:]
    assert pki.key_password not in output
