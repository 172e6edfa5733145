"""Worker processes (``cqrs-worker run``) on a Kafka topic of the test's own.

Each worker runs :mod:`tests.reliability.apps.kafka_order` and appends what
it handled to a log file of its own; records are produced, committed offsets
read and dead letters collected with aiokafka itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from cqrs_worker.envelope import encode_event, event_headers
from tests.reliability.apps.kafka_order import Step, Stepped
from tests.support.kafka import (
    FAST_GROUP_SETTINGS,
    committed_offsets,
    create_topic,
    unique_topic,
)
from tests.support.names import unique_name
from tests.support.processes import ManagedProcess, ProcessSet

#: A record to produce: the value, the key and the headers, as bytes.
Record = tuple[bytes, bytes | None, Sequence[tuple[str, bytes]]]


def step(topic: str, key: str, seq: int) -> Record:
    event = Stepped(topic=topic, partition_key=key, payload=Step(key=key, seq=seq))
    headers = [(name, value.encode()) for name, value in event_headers(event).items()]
    return encode_event(event), key.encode(), headers


@dataclass
class KafkaWorkers:
    bootstrap: str
    topic: str
    group: str
    partitions: int
    processes: ProcessSet
    logs: Path
    workers: dict[str, ManagedProcess] = field(default_factory=dict)
    app_env: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.topic}.dlq"

    def start(self, name: str, *, delay: float = 0.0, **settings: str) -> ManagedProcess:
        """A worker; its handler sleeps up to ``delay`` s; ``settings`` are CQRS_WORKER_*
        (and :attr:`app_env` more variables of :mod:`tests.reliability.apps.kafka_order`)."""
        env = {
            "CQRS_WORKER_KAFKA_BOOTSTRAP": self.bootstrap,
            "CQRS_WORKER_GROUP_ID": self.group,
            "CQRS_WORKER_TOPICS": self.topic,
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",  # Tansu grants no producer ids
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
            "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
            "CQRS_WORKER_WORKER_ID": name,
            "KAFKA_RELIABILITY_LOG": str(self.log(name)),
            "KAFKA_RELIABILITY_DELAY": str(delay),
            **{f"CQRS_WORKER_{key.upper()}": value for key, value in settings.items()},
            **self.app_env,
        }
        worker = self.processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "run",
                "tests.reliability.apps.kafka_order:build",
                "--factory",
            ],
            name=name,
            env=env,
        )
        self.workers[name] = worker
        return worker

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.handled"

    def handled(self, name: str) -> list[tuple[str, int]]:
        path = self.log(name)
        if not path.exists():
            return []
        text = path.read_text()  # read once: a second read may see the last line finished
        lines = text.splitlines()
        if lines and not text.endswith("\n"):
            lines.pop()  # a line being written
        return [(key, int(seq)) for key, seq in (line.split() for line in lines)]

    def handled_by_all(self) -> list[tuple[str, int]]:
        return [entry for name in self.workers for entry in self.handled(name)]

    async def produce(
        self, records: Sequence[Record], *, partition: int | None = None
    ) -> dict[int, int]:
        """Produce in order (to ``partition``, or by key); returns the end offset of each
        partition written to."""
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, enable_idempotence=False, linger_ms=5
        )
        await producer.start()
        ends: dict[int, int] = {}
        try:
            futures = [
                await producer.send(
                    self.topic, value, key=key, headers=list(headers), partition=partition
                )
                for value, key, headers in records
            ]
            for result in await asyncio.gather(*futures):
                ends[result.partition] = max(ends.get(result.partition, 0), result.offset + 1)
        finally:
            await producer.stop()
        return ends

    async def committed(self) -> dict[int, int | None]:
        return await committed_offsets(self.bootstrap, self.group, self.topic, self.partitions)

    async def wait_committed(self, ends: Mapping[int, int], timeout: float) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            committed = await self.committed()
            if all(committed.get(p) == end for p, end in ends.items()):
                return
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"committed {committed}, expected {dict(ends)}")
            await asyncio.sleep(0.2)

    async def read_dlq(self, count: int, timeout: float) -> list[Any]:
        consumer = AIOKafkaConsumer(
            self.dlq, bootstrap_servers=self.bootstrap, auto_offset_reset="earliest"
        )
        await consumer.start()
        records: list[Any] = []
        try:
            async with asyncio.timeout(timeout):
                while len(records) < count:
                    for part in (await consumer.getmany(timeout_ms=200)).values():
                        records.extend(part)
        except TimeoutError:
            pass  # the caller asserts on what arrived
        finally:
            await consumer.stop()
        return records


@pytest.fixture
def kafka_workers_factory(
    kafka_bootstrap: str,
    processes: ProcessSet,
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> Any:
    async def make(partitions: int) -> KafkaWorkers:
        topic = await create_topic(kafka_bootstrap, unique_topic(request.node.name), partitions)
        await create_topic(kafka_bootstrap, f"{topic}.dlq", 1)
        return KafkaWorkers(
            bootstrap=kafka_bootstrap,
            topic=topic,
            group=unique_name("group"),
            partitions=partitions,
            processes=processes,
            logs=tmp_path,
        )

    return make
