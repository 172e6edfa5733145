"""TLS for amqps:// URLs, and no silent plaintext when TLS files were given."""

from __future__ import annotations

import ssl

import pytest

from cqrs_worker.brokers import AMQPMessageBroker
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import RabbitMQTLSSettings, amqp_ssl_context
from tests.support.tls import TestPKI


def test_amqp_urls_get_no_tls() -> None:
    assert amqp_ssl_context("amqp://guest:guest@rabbit/", RabbitMQTLSSettings()) is None


def test_amqps_urls_trust_the_ca_file_and_present_the_client_certificate(pki: TestPKI) -> None:
    context = amqp_ssl_context(
        "AMQPS://app:pw@rabbit:5671/",
        RabbitMQTLSSettings(
            rabbitmq_ssl_cafile=pki.ca_file,
            rabbitmq_ssl_certfile=pki.client_cert_file,
            rabbitmq_ssl_keyfile=pki.client_key_file,
            rabbitmq_ssl_key_password=pki.key_password,
        ),
    )
    assert isinstance(context, ssl.SSLContext)
    assert len(context.get_ca_certs()) == 1


def test_tls_files_with_an_amqp_url_are_an_error_without_the_password(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError) as caught:
        amqp_ssl_context(
            "amqp://app:Secret-9@rabbit:5672/",
            RabbitMQTLSSettings(rabbitmq_ssl_cafile=pki.ca_file),
        )
    message = str(caught.value)
    assert "is not amqps://" in message
    assert "CQRS_WORKER_RABBITMQ_SSL_" in message
    assert "Secret-9" not in message


def test_the_publisher_reads_the_variables_for_amqps_urls(
    monkeypatch: pytest.MonkeyPatch, pki: TestPKI
) -> None:
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_SSL_CAFILE", str(pki.ca_file))
    broker = AMQPMessageBroker("amqps://guest:guest@127.0.0.1:5671/")
    assert broker._ssl_context is not None
    assert len(broker._ssl_context.get_ca_certs()) == 1
    # amqp:// publishers are left alone by the variables meant for TLS ones.
    assert AMQPMessageBroker("amqp://guest:guest@127.0.0.1:5672/")._ssl_context is None


def test_the_publisher_refuses_a_bad_ca_variable_at_construction(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CQRS_WORKER_RABBITMQ_SSL_CAFILE", "/nonexistent/ca.pem")
    with pytest.raises(ConfigurationError, match="CQRS_WORKER_RABBITMQ_SSL_CAFILE"):
        AMQPMessageBroker("amqps://guest:guest@127.0.0.1:5671/")
