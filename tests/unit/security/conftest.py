from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.tls import TestPKI


@pytest.fixture
def pki(tmp_path: Path) -> TestPKI:
    return TestPKI.create(tmp_path / "pki")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No CQRS_WORKER_* variable of the developer's shell leaks into these tests."""
    for name in list(os.environ):
        if name.startswith("CQRS_WORKER_"):
            monkeypatch.delenv(name)
