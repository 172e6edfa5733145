"""Helpers of the dead-letter tests: dead letters written by hand, topics read back, the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.support.processes import REPO_ROOT


@dataclass(frozen=True)
class Cli:
    """``python -m cqrs_worker.cli dlq ...`` as a subprocess."""

    returncode: int
    stdout: str
    stderr: str

    def json_lines(self) -> list[dict[str, Any]]:
        return [orjson.loads(line) for line in self.stdout.splitlines() if line.strip()]


def dlq_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 90.0) -> Cli:
    """Run ``cqrs-worker dlq *args``; the worker's variables come from ``env`` only."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_WORKER_")}
    done = subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", "dlq", *args],
        env={**base, **(env or {})},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Cli(done.returncode, done.stdout, done.stderr)


def envelope(event_name: str = "Signup", **payload: Any) -> tuple[str, bytes]:
    event_id = str(uuid.uuid4())
    body = orjson.dumps(
        {
            "event_id": event_id,
            "event_name": event_name,
            "event_timestamp": "2026-01-01T00:00:00+00:00",
            "topic": "signups",
            "payload": payload,
        }
    )
    return event_id, body


def dead_letter_headers(
    *,
    topic: str,
    reason: str = "handler-failed",
    exception: str = "builtins.RuntimeError",
    failed_at: str = "2026-05-01T12:00:00+00:00",
    event_name: str = "Signup",
    event_id: str = "",
) -> list[tuple[str, bytes]]:
    """Headers as the worker's Kafka sink writes them (the parts the commands read)."""
    pairs = {
        "event_name": event_name,
        "event_id": event_id,
        "x-dlq-reason": reason,
        "x-dlq-exception-type": exception,
        "x-dlq-exception-message": "boom",
        "x-dlq-attempts": "3",
        "x-dlq-first-failure-at": failed_at,
        "x-dlq-last-failure-at": failed_at,
        "x-dlq-worker-id": "w-1",
        "x-dlq-original-topic": topic,
        "x-dlq-original-partition": "0",
        "x-dlq-original-offset": "7",
    }
    return [(name, value.encode()) for name, value in pairs.items()]


async def produce(
    bootstrap: str,
    topic: str,
    records: Sequence[tuple[bytes, bytes | None, list[tuple[str, bytes]]]],
) -> None:
    """``(value, key, headers)`` records to ``topic`` (not idempotent: Tansu)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for value, key, headers in records:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def read_topic(
    bootstrap: str, topic: str, *, expected: int, timeout_ms: int = 1500
) -> list[Any]:
    """Every record of ``topic`` (waits for ``expected``, then once more for extras)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()  # metadata of every topic, ours included
        partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Any] = []
        rounds = 0
        while len(records) < expected and rounds < 40:
            rounds += 1
            batch = await consumer.getmany(timeout_ms=500)
            for got in batch.values():
                records.extend(got)
        batch = await consumer.getmany(timeout_ms=timeout_ms)
        for got in batch.values():
            records.extend(got)
        return records
    finally:
        await consumer.stop()
