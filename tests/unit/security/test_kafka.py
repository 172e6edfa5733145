"""The aiokafka and FastStream arguments each Kafka security setting gives."""

from __future__ import annotations

import ssl
from typing import Any

import pydantic
import pytest
from faststream.kafka.security import parse_security

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import (
    KafkaSecuritySettings,
    aiokafka_options,
    faststream_options,
    load_kafka_security,
)
from tests.support.tls import TestPKI
from tests.unit.security.providers import StaticToken


def settings(**values: Any) -> KafkaSecuritySettings:
    return KafkaSecuritySettings(**values)


def test_plaintext_by_default_names_the_protocol_and_nothing_else() -> None:
    assert aiokafka_options(settings()) == {"security_protocol": "PLAINTEXT"}
    assert faststream_options(aiokafka_options(settings())) == {}


def test_ssl_builds_a_context_that_trusts_the_ca_file(pki: TestPKI) -> None:
    options = aiokafka_options(
        settings(kafka_security_protocol="SSL", kafka_ssl_cafile=pki.ca_file)
    )
    assert options.keys() == {"security_protocol", "ssl_context"}
    context = options["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert len(context.get_ca_certs()) == 1


def test_ssl_without_a_ca_file_uses_the_system_cas() -> None:
    options = aiokafka_options(settings(kafka_security_protocol="ssl"))
    assert options["security_protocol"] == "SSL"
    assert isinstance(options["ssl_context"], ssl.SSLContext)


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
@pytest.mark.parametrize("protocol", ["SASL_SSL", "SASL_PLAINTEXT"])
def test_user_and_password_mechanisms(mechanism: str, protocol: str) -> None:
    options = aiokafka_options(
        settings(
            kafka_security_protocol=protocol,
            kafka_sasl_mechanism=mechanism.lower(),
            kafka_sasl_username="svc",
            kafka_sasl_password="s3cret",
        )
    )
    assert options["security_protocol"] == protocol
    assert options["sasl_mechanism"] == mechanism
    assert options["sasl_plain_username"] == "svc"
    assert options["sasl_plain_password"] == "s3cret"
    assert ("ssl_context" in options) is (protocol == "SASL_SSL")


def test_oauthbearer_takes_a_token_provider_object() -> None:
    provider = StaticToken()
    options = aiokafka_options(
        settings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="OAUTHBEARER",
            kafka_sasl_oauth_token_provider=provider,
        )
    )
    assert options["sasl_mechanism"] == "OAUTHBEARER"
    assert "sasl_plain_password" not in options
    assert options["sasl_oauth_token_provider"]._provider is provider


@pytest.mark.parametrize(
    "values",
    [
        {"kafka_security_protocol": "SSL"},
        {
            "kafka_security_protocol": "SASL_PLAINTEXT",
            "kafka_sasl_mechanism": "PLAIN",
            "kafka_sasl_username": "u",
            "kafka_sasl_password": "p",
        },
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "u",
            "kafka_sasl_password": "p",
        },
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-256",
            "kafka_sasl_username": "u",
            "kafka_sasl_password": "p",
        },
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "OAUTHBEARER",
            "kafka_sasl_oauth_token_provider": "tests.unit.security.providers:provider",
        },
    ],
)
def test_faststream_gets_the_same_aiokafka_arguments(values: dict[str, Any]) -> None:
    """FastStream turns its security object back into aiokafka arguments: ours, unchanged."""
    options = aiokafka_options(settings(**values))
    broker_options = faststream_options(options)
    via_faststream = parse_security(broker_options["security"])
    provider = broker_options.get("sasl_oauth_token_provider")
    if provider is not None:
        via_faststream["sasl_oauth_token_provider"] = provider
    expected = {"ssl_context": None, **options}
    assert via_faststream == expected


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"kafka_security_protocol": "SASL_SSL"}, "needs CQRS_WORKER_KAFKA_SASL_MECHANISM"),
        ({"kafka_sasl_mechanism": "PLAIN"}, "SECURITY_PROTOCOL is PLAINTEXT; use SASL_SSL"),
        (
            {
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": "SCRAM-SHA-256",
                "kafka_sasl_username": "u",
            },
            "needs CQRS_WORKER_KAFKA_SASL_USERNAME and CQRS_WORKER_KAFKA_SASL_PASSWORD",
        ),
        (
            {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_mechanism": "OAUTHBEARER"},
            "needs CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER",
        ),
        (
            {
                "kafka_security_protocol": "SASL_PLAINTEXT",
                "kafka_sasl_mechanism": "PLAIN",
                "kafka_sasl_username": "u",
                "kafka_sasl_password": "p",
                "kafka_ssl_key_password": "k",
            },
            "CQRS_WORKER_KAFKA_SSL_KEY_PASSWORD is set but",
        ),
        ({"kafka_security_protocol": "TLS"}, "Input should be 'PLAINTEXT'"),
        ({"kafka_sasl_mechanism": "GSSAPI"}, "Input should be 'PLAIN'"),
        ({"kafka_sasl_oauth_token_provider": 3}, "expected module:attr"),
    ],
)
def test_inconsistent_settings_say_what_to_set(values: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        settings(**values)


def test_a_missing_ca_file_is_named() -> None:
    with pytest.raises(pydantic.ValidationError, match="kafka_ssl_cafile"):
        settings(kafka_security_protocol="SSL", kafka_ssl_cafile="/nonexistent/ca.pem")


def test_the_environment_gives_the_settings(monkeypatch: pytest.MonkeyPatch, pki: TestPKI) -> None:
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_USERNAME", "relay")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD", "pw")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SSL_CAFILE", str(pki.ca_file))
    loaded = load_kafka_security()
    assert loaded.kafka_sasl_username == "relay"
    assert loaded.kafka_ssl_cafile == pki.ca_file


def test_bad_variables_are_one_configuration_error_without_the_password(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("CQRS_WORKER_KAFKA_SASL_PASSWORD", "hunter2-pw")
    with pytest.raises(ConfigurationError) as caught:
        load_kafka_security()
    assert "CQRS_WORKER_KAFKA_SASL_MECHANISM" in str(caught.value)
    assert "hunter2-pw" not in str(caught.value)
    assert "\n" not in str(caught.value)
