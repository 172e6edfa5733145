"""``cqrs-worker run`` against a real Kafka-protocol broker: readiness, logs, graceful stop."""

from __future__ import annotations

import asyncio
import subprocess
import sys

from cqrs_worker.brokers import KafkaMessageBroker, OutgoingMessage, kafka_producer_factory
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic
from tests.support.net import free_port
from tests.support.processes import REPO_ROOT, ProcessSet
from tests.unit.worker.sample import placed


def check(port: int, *flags: str) -> int:
    return subprocess.run(
        [sys.executable, "-m", "cqrs_worker.cli", "check", "--port", str(port), *flags],
        cwd=REPO_ROOT,
        capture_output=True,
        timeout=30,
        check=False,
    ).returncode


async def test_a_worker_subscribes_becomes_ready_handles_and_stops_with_its_stats(
    kafka_bootstrap: str, topic_name: str, group_id: str, processes: ProcessSet
) -> None:
    await create_topic(kafka_bootstrap, topic_name, 2)
    port = free_port()
    worker = processes.start_python(
        [
            "-m",
            "cqrs_worker.cli",
            "run",
            "tests.unit.worker.sample:mediator",
            "--factory",
            "--kafka-bootstrap",
            kafka_bootstrap,
            "--group-id",
            group_id,
            "--topics",
            topic_name,
            "--health-port",
            str(port),
            "--health-host",
            "127.0.0.1",
            "--no-kafka-idempotence",
        ],
        name="worker",
        env={
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
        },
    )

    await worker.await_line(
        rf"running: sources kafka, topics {topic_name}, events OrderPlaced, Shipped", timeout=60
    )
    assert await asyncio.to_thread(check, port, "--ready") == 0
    assert await asyncio.to_thread(check, port, "--live") == 0
    broker = KafkaMessageBroker(kafka_producer_factory(kafka_bootstrap, enable_idempotence=False))
    await broker.start()
    await broker.publish(
        [
            OutgoingMessage.from_event(
                placed(n, key=str(n % 3)).model_copy(update={"topic": topic_name})
            )
            for n in range(30)
        ]
        + [OutgoingMessage(topic_name, b"not json", headers={"event_name": "OrderPlaced"})]
    )
    await broker.close()
    await worker.await_line("dead-lettering OrderPlaced", timeout=30)

    worker.terminate()

    assert await worker.wait_async(30) == 0
    output = worker.output()
    assert "worker stopped; stats: received=31, handled=30, retried=0, dead_lettered=1" in output
    assert await asyncio.to_thread(check, port) == 1  # gone
