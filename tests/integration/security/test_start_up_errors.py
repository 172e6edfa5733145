"""Wrong security settings stop ``cqrs-worker run`` before it connects: one line, exit 2.

No broker is needed: each case fails while the worker builds its clients.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import REPO_ROOT
from tests.support.tls import TestPKI

SECRET = "Leak-Canary-0a4f"


def run(env: dict[str, str], *flags: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.unit.worker.sample:mediator",
            "--factory",
            "--group-id",
            "g",
            "--topics",
            "t",
            "--health-port",
            "0",
            *flags,
        ],
        cwd=REPO_ROOT,
        env={**clean, "PYTHONPATH": str(REPO_ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cases(pki: TestPKI, tmp_path: Path) -> dict[str, tuple[dict[str, str], str]]:
    wrong = tmp_path / "wrong-password"
    wrong.write_text(SECRET + "\n")
    kafka = {"CQRS_WORKER_KAFKA_BOOTSTRAP": "127.0.0.1:1"}
    tls = {**kafka, "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SSL"}
    return {
        "wrong key password": (
            {
                **tls,
                "CQRS_WORKER_KAFKA_SSL_CERTFILE": str(pki.client_cert_file),
                "CQRS_WORKER_KAFKA_SSL_KEYFILE": str(pki.client_key_file),
                "CQRS_WORKER_KAFKA_SSL_KEY_PASSWORD_FILE": str(wrong),
            },
            "cannot load the client certificate CQRS_WORKER_KAFKA_SSL_CERTFILE",
        ),
        "missing CA file": (
            {**tls, "CQRS_WORKER_KAFKA_SSL_CAFILE": str(tmp_path / "nope.pem")},
            "CQRS_WORKER_KAFKA_SSL_CAFILE (--kafka-ssl-cafile): no such file",
        ),
        "TLS files with amqp://": (
            {
                "CQRS_WORKER_RABBITMQ_URL": f"amqp://guest:{SECRET}@127.0.0.1:1/",
                "CQRS_WORKER_RABBITMQ_SSL_CAFILE": str(pki.ca_file),
            },
            "is not amqps://",
        ),
        "token provider not importable": (
            {
                **kafka,
                "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
                "CQRS_WORKER_KAFKA_SASL_MECHANISM": "OAUTHBEARER",
                "CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER": "nope.auth:provider",
            },
            "CQRS_WORKER_KAFKA_SASL_OAUTH_TOKEN_PROVIDER: cannot import 'nope.auth'",
        ),
        "a secret and its file": (
            {
                **kafka,
                "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
                "CQRS_WORKER_KAFKA_SASL_MECHANISM": "PLAIN",
                "CQRS_WORKER_KAFKA_SASL_USERNAME": "svc",
                "CQRS_WORKER_KAFKA_SASL_PASSWORD": SECRET,
                "CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE": str(wrong),
            },
            "both CQRS_WORKER_KAFKA_SASL_PASSWORD and CQRS_WORKER_KAFKA_SASL_PASSWORD_FILE",
        ),
        "SASL without a mechanism": (
            {**kafka, "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
            "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs CQRS_WORKER_KAFKA_SASL_MECHANISM",
        ),
    }


NAMES = [
    "wrong key password",
    "missing CA file",
    "TLS files with amqp://",
    "token provider not importable",
    "a secret and its file",
    "SASL without a mechanism",
]


@pytest.mark.parametrize("case", NAMES)
def test_one_line_naming_the_setting_and_exit_2(case: str, pki: TestPKI, tmp_path: Path) -> None:
    env, message = cases(pki, tmp_path)[case]
    done = run(env)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert SECRET not in done.stderr + done.stdout
    assert message in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("cqrs-worker run: ")]
    assert len(lines) == 1, done.stderr
