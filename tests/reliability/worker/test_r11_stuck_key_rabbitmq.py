"""R11 (RabbitMQ): one stuck key holds back only itself, in one queue.

A durable queue gets :data:`STUCK_EVENTS` events of one key (more than the
prefetch window of 256), whose first event fails for :data:`FAIL_SECONDS`
(retried about every second), then :data:`OTHER_EVENTS` events of 50 other
keys. A worker process (:mod:`tests.reliability.apps.kafka_order`, default
settings) must handle every event of the other keys while the stuck key is
still failing; then the stuck key recovers, everything is handled once and in
order per key, and the queue ends empty.

Before the prefetch window grew by what waits behind a retried key, the
stuck key's messages filled the window (RabbitMQ delivers in queue order and
counts unacknowledged deliveries), so none of the other keys' events arrived
until the stuck key recovered.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest

from cqrs_worker.brokers import AMQPMessageBroker, OutgoingMessage
from tests.reliability.apps.kafka_order import Step, Stepped
from tests.support.names import unique_name
from tests.support.processes import ManagedProcess, ProcessSet
from tests.support.waiting import async_wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(90)]

STUCK_EVENTS = 600
OTHER_EVENTS = 1_000
FAIL_SECONDS = 10.0


@dataclass
class QueueRig:
    url: str
    processes: ProcessSet
    log: Path
    exchange: str = ""
    routing_key: str = ""
    queue: str = ""

    def __post_init__(self) -> None:
        self.exchange = unique_name("r11-ex")
        self.routing_key = unique_name("r11-steps")
        self.queue = unique_name("r11-q")

    def start_worker(self) -> ManagedProcess:
        env = {
            "CQRS_WORKER_RABBITMQ_URL": self.url,
            "CQRS_WORKER_RABBITMQ_EXCHANGE": self.exchange,
            "CQRS_WORKER_TOPICS": self.routing_key,
            "CQRS_WORKER_QUEUES": self.queue,
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
            "CQRS_WORKER_MAX_ATTEMPTS": "1000",
            "CQRS_WORKER_RETRY_MAX_DELAY": "1",
            "KAFKA_RELIABILITY_LOG": str(self.log),
            "KAFKA_RELIABILITY_FAIL_KEY": "stuck",
            "KAFKA_RELIABILITY_FAIL_SECONDS": str(FAIL_SECONDS),
        }
        return self.processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "run",
                "tests.reliability.apps.kafka_order:build",
                "--factory",
            ],
            name="worker",
            env=env,
        )

    async def publish(self, key_of: collections.abc.Callable[[int], str], seqs: range) -> None:
        broker = AMQPMessageBroker(self.url, exchange=self.exchange)
        await broker.start()
        try:
            await broker.publish(
                [
                    OutgoingMessage.from_event(
                        Stepped(
                            topic=self.routing_key,
                            partition_key=key_of(seq),
                            payload=Step(key=key_of(seq), seq=seq),
                        )
                    )
                    for seq in seqs
                ]
            )
        finally:
            await broker.close()

    def handled(self) -> list[tuple[str, int]]:
        if not self.log.exists():
            return []
        text = self.log.read_text()
        lines = text.splitlines()
        if lines and not text.endswith("\n"):
            lines.pop()  # a line being written
        return [(key, int(seq)) for key, seq in (line.split() for line in lines)]

    async def ready(self) -> int:
        connection = await aio_pika.connect(self.url)
        try:
            channel = await connection.channel()
            queue = await channel.declare_queue(self.queue, passive=True)
            return int(queue.declaration_result.message_count or 0)
        finally:
            await connection.close()

    async def cleanup(self) -> None:
        connection = await aio_pika.connect(self.url)
        try:
            channel = await connection.channel()
            for name in (self.queue, f"{self.queue}.dlq"):
                await channel.queue_delete(name)
            for name in (self.exchange, f"{self.exchange}.dlx"):
                await channel.exchange_delete(name)
        finally:
            await connection.close()


@pytest.fixture
async def rig(rabbitmq_url: str, processes: ProcessSet, tmp_path: Path) -> AsyncIterator[QueueRig]:
    queue_rig = QueueRig(rabbitmq_url, processes, tmp_path / "worker.handled")
    try:
        yield queue_rig
    finally:
        processes.stop_all()  # before the queue goes: a live consumer would see it deleted
        await queue_rig.cleanup()


async def test_a_stuck_key_holds_back_only_itself(rig: QueueRig) -> None:
    worker = rig.start_worker()
    await worker.await_line("running: sources rabbitmq", timeout=60)
    await rig.publish(lambda _: "stuck", range(STUCK_EVENTS))
    await worker.await_line(r"attempt 1 of Stepped failed", timeout=30)
    await rig.publish(
        lambda seq: f"key-{seq % 50}", range(STUCK_EVENTS, STUCK_EVENTS + OTHER_EVENTS)
    )

    def handled_other() -> int:
        return sum(1 for key, _ in rig.handled() if key != "stuck")

    await async_wait_until(
        lambda: handled_other() >= OTHER_EVENTS or ("stuck", 0) in rig.handled(),
        timeout=FAIL_SECONDS + 20,
        message=lambda: f"{handled_other()} of the other keys' {OTHER_EVENTS} events handled",
    )
    assert ("stuck", 0) not in rig.handled(), (
        f"the stuck key recovered before the other keys were handled: only {handled_other()} "
        f"of their {OTHER_EVENTS} events were handled while it was stuck"
    )

    await async_wait_until(
        lambda: len(rig.handled()) >= STUCK_EVENTS + OTHER_EVENTS,
        timeout=FAIL_SECONDS + 30,
        message=lambda: f"{len(rig.handled())} handled",
    )
    worker.terminate()
    assert await worker.wait_async(15) == 0
    assert await rig.ready() == 0, "every delivery acknowledged"

    handled = rig.handled()
    assert len(handled) == len(set(handled)) == STUCK_EVENTS + OTHER_EVENTS, "each handled once"
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for key, seq in handled:
        by_key[key].append(seq)
    assert by_key["stuck"] == list(range(STUCK_EVENTS))
    assert all(seqs == sorted(seqs) for seqs in by_key.values()), "in order per key"
