"""``cqrs-worker status`` uses the worker's Kafka security settings (mutual TLS here)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from tests.integration.security.kafka_tls import tls_env
from tests.support.kafka import create_topic
from tests.support.processes import REPO_ROOT
from tests.support.proxy import ProxiedTansu
from tests.support.tls import TestPKI


def status(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", "status", *args],
        cwd=REPO_ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_status_reaches_a_mutual_tls_kafka_with_the_worker_settings(
    mtls_kafka: ProxiedTansu, pki: TestPKI, topic_name: str, group_id: str
) -> None:
    bootstrap = mtls_kafka.bootstrap
    await create_topic(
        bootstrap, topic_name, 2, security_protocol="SSL", ssl_context=pki.client_context()
    )
    args = ("--kafka-bootstrap", bootstrap, "--group", group_id, "--topics", topic_name)

    done = await asyncio.to_thread(status, tls_env(pki, client_cert=True), *args, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [(p["partition"], p["committed"], p["end"], p["lag"]) for p in report["partitions"]] == [
        (0, None, 0, 0),
        (1, None, 0, 0),
    ]

    refused = await asyncio.to_thread(status, tls_env(pki), *args, "--timeout", "10")
    assert refused.returncode == 2, refused.stdout
    assert refused.stderr.startswith(f"cqrs-worker status: cannot reach Kafka at {bootstrap}")
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    for output in (done.stdout, done.stderr, refused.stderr):
        assert pki.key_password not in output
