"""Helpers of the Kafka TLS tests: the worker's environment and reading a topic over TLS."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer

from tests.support.kafka import FAST_GROUP_SETTINGS
from tests.support.tls import TestPKI

__all__ = ["read_topic", "tls_env", "worker_args"]


def tls_env(pki: TestPKI, *, client_cert: bool = False) -> dict[str, str]:
    """``CQRS_WORKER_KAFKA_*`` for TLS to the test CA; with the (encrypted) client key."""
    env = {
        "CQRS_WORKER_KAFKA_SECURITY_PROTOCOL": "SSL",
        "CQRS_WORKER_KAFKA_SSL_CAFILE": str(pki.ca_file),
    }
    if client_cert:
        env["CQRS_WORKER_KAFKA_SSL_CERTFILE"] = str(pki.client_cert_file)
        env["CQRS_WORKER_KAFKA_SSL_KEYFILE"] = str(pki.client_key_file)
        env["CQRS_WORKER_KAFKA_SSL_KEY_PASSWORD_FILE"] = str(pki.key_password_file)
    return env


def worker_args(bootstrap: str, group_id: str, topic: str) -> list[str]:
    """``cqrs-worker run`` of the sample mediator, consuming ``topic``."""
    return [
        "-m",
        "cqrs_worker.cli",
        "run",
        "tests.unit.worker.sample:mediator",
        "--factory",
        "--kafka-bootstrap",
        bootstrap,
        "--group-id",
        group_id,
        "--topics",
        topic,
        "--health-port",
        "0",
        "--no-kafka-idempotence",
        "--session-timeout-ms",
        str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
        "--heartbeat-interval-ms",
        str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
    ]


async def read_topic(
    bootstrap: str, topic: str, count: int, *, timeout: float = 60.0, **security: Any
) -> Sequence[Any]:
    """The first ``count`` records of ``topic`` (all partitions), read with ``security``."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        **security,
    )
    await consumer.start()
    records: list[Any] = []
    try:
        async with asyncio.timeout(timeout):
            while len(records) < count:
                batches = await consumer.getmany(timeout_ms=500)
                for batch in batches.values():
                    records.extend(batch)
    finally:
        await consumer.stop()
    return records
