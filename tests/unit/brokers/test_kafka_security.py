"""Which security ``kafka_producer_factory`` gives the producer: code, aiokafka arguments, env."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from cqrs_worker.brokers import kafka_producer_factory
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import KafkaSecuritySettings
from tests.support.tls import TestPKI


@pytest.fixture(autouse=True)
def sasl_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SECURITY_PROTOCOL", "SASL_PLAINTEXT")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_USERNAME", "from-env")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD", "env-password")


@asynccontextmanager
async def client_of(**arguments: Any) -> AsyncIterator[Any]:
    """The aiokafka client of a producer built (never started) with ``arguments``."""
    producer = kafka_producer_factory("127.0.0.1:9", **arguments)
    try:
        yield producer.client
    finally:
        await producer.stop()


async def test_without_arguments_the_variables_configure_the_producer() -> None:
    async with client_of() as client:
        assert client._security_protocol == "SASL_PLAINTEXT"
        assert client._sasl_mechanism == "SCRAM-SHA-512"
        assert client._sasl_plain_username == "from-env"
        assert client._sasl_plain_password == "env-password"


async def test_settings_in_code_win_over_the_variables_field_by_field() -> None:
    security = KafkaSecuritySettings(kafka_sasl_mechanism="PLAIN", kafka_sasl_username="code")
    async with client_of(security=security) as client:
        assert client._sasl_mechanism == "PLAIN"
        assert client._sasl_plain_username == "code"
        assert client._sasl_plain_password == "env-password"  # not given in code


async def test_tls_settings_in_code(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("PROTOCOL", "MECHANISM", "USERNAME", "PASSWORD"):
        monkeypatch.delenv(
            f"CQRS_WORKER_KAFKA_{'SECURITY' if name == 'PROTOCOL' else 'SASL'}_{name}"
        )
    pki = TestPKI.create(tmp_path)
    security = KafkaSecuritySettings(kafka_security_protocol="SSL", kafka_ssl_cafile=pki.ca_file)
    async with client_of(security=security) as client:
        assert client._security_protocol == "SSL"
        assert client._ssl_context is not None


async def test_aiokafka_arguments_given_by_hand_are_used_as_given() -> None:
    async with client_of(security_protocol="PLAINTEXT") as client:
        assert client._security_protocol == "PLAINTEXT"
        assert client._sasl_plain_username is None


async def test_bad_variables_are_a_configuration_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CQRS_WORKER_KAFKA_SASL_USERNAME")
    with pytest.raises(ConfigurationError, match="CQRS_WORKER_KAFKA_SASL_USERNAME"):
        kafka_producer_factory("127.0.0.1:9")
