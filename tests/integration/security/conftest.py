"""Fixtures for the TLS tests: a throw-away PKI, and a Tansu reachable only over TLS."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.kafka import TansuStartError
from tests.support.proxy import ProxiedTansu, tansu_behind_proxy
from tests.support.tls import TestPKI


@pytest.fixture
def pki(tmp_path: Path) -> TestPKI:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM files."""
    return TestPKI.create(tmp_path / "pki")


@pytest.fixture
def tls_kafka(pki: TestPKI) -> Iterator[ProxiedTansu]:
    """A Tansu behind a TLS-terminating proxy that it advertises (server auth only)."""
    try:
        with tansu_behind_proxy(ssl=pki.server_context()) as kafka:
            yield kafka
    except TansuStartError as exc:
        pytest.fail(f"could not start Tansu behind a TLS proxy: {exc}", pytrace=False)


@pytest.fixture
def mtls_kafka(pki: TestPKI) -> Iterator[ProxiedTansu]:
    """Like ``tls_kafka``, but the proxy requires a client certificate signed by the CA."""
    try:
        with tansu_behind_proxy(ssl=pki.server_context(require_client_cert=True)) as kafka:
            yield kafka
    except TansuStartError as exc:
        pytest.fail(f"could not start Tansu behind a TLS proxy: {exc}", pytrace=False)
