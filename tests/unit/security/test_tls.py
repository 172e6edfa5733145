"""Client TLS contexts from files, and errors that name the setting to fix."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security.tls import client_ssl_context
from tests.support.tls import TestPKI

V = "CQRS_WORKER_KAFKA_SSL"


def test_a_client_certificate_with_an_encrypted_key(pki: TestPKI) -> None:
    context = client_ssl_context(
        cafile=pki.ca_file,
        certfile=pki.client_cert_file,
        keyfile=pki.client_key_file,
        key_password=pki.key_password,
        variables=V,
    )
    assert isinstance(context, ssl.SSLContext)
    assert context.check_hostname


def test_a_wrong_key_password_names_the_password_setting(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError) as caught:
        client_ssl_context(
            cafile=pki.ca_file,
            certfile=pki.client_cert_file,
            keyfile=pki.client_key_file,
            key_password="wrong-password",
            variables=V,
        )
    message = str(caught.value)
    assert f"{V}_CERTFILE" in message
    assert f"{V}_KEY_PASSWORD" in message
    assert "wrong-password" not in message


def test_a_key_without_its_certificate_is_refused(pki: TestPKI) -> None:
    with pytest.raises(ConfigurationError, match=f"{V}_KEYFILE is set without {V}_CERTFILE"):
        client_ssl_context(
            cafile=None, certfile=None, keyfile=pki.client_key_file, key_password=None, variables=V
        )


def test_a_ca_file_that_is_not_a_certificate_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "ca.pem"
    bogus.write_text("not a certificate\n")
    with pytest.raises(ConfigurationError, match=f"{V}_CAFILE .* holds no usable CA"):
        client_ssl_context(
            cafile=bogus, certfile=None, keyfile=None, key_password=None, variables=V
        )
