"""What the runtime's reliability suites share: worker processes, producing, reading results."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from tests.reliability.worker.app import Item, Numbered
from tests.support.kafka import FAST_GROUP_SETTINGS, committed_offsets, publish_events
from tests.support.processes import ManagedProcess, ProcessSet


def numbered(seq: int, *, slow: bool = False, keys: int = 64) -> Numbered:
    """Event ``seq``, keyed by ``seq % keys`` (events of one key are handled in order)."""
    return Numbered(payload=Item(seq=seq, slow=slow), partition_key=f"key-{seq % keys}")


def journal_lines(out: Path, kind: str = "done") -> collections.Counter[int]:
    """How often each seq was ``start``-ed or ``done`` in the worker outputs under ``out``."""
    seen: collections.Counter[int] = collections.Counter()
    for path in out.glob("*.log"):
        for line in path.read_text().splitlines():
            word, _, seq = line.partition(" ")
            if word == kind and seq.isdigit():
                seen[int(seq)] += 1
    return seen


@dataclass
class Rig:
    """A test's topic, group, output folder and worker processes."""

    kafka: str
    topic: str
    group: str
    out: Path
    processes: ProcessSet
    workers: list[ManagedProcess] = field(default_factory=list)
    produced: int = 0

    def start_worker(self, name: str, *args: str, **env: str) -> ManagedProcess:
        """``cqrs-worker run`` of the reliability app, with ``args`` (``--workers 2``)."""
        settings = {
            "CQRS_WORKER_KAFKA_BOOTSTRAP": self.kafka,
            "CQRS_WORKER_GROUP_ID": self.group,
            "CQRS_WORKER_TOPICS": self.topic,
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
            "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",  # Tansu grants no producer ids
            "CQRS_WORKER_WORKER_ID": name,
            "RELIABILITY_OUT": str(self.out / f"{name}.log"),
        }
        worker = self.processes.start_python(
            [
                "-m",
                "cqrs_worker.cli",
                "run",
                "tests.reliability.worker.app:build",
                "--factory",
                *args,
            ],
            name=name,
            env={**settings, **env},
        )
        self.workers.append(worker)
        return worker

    async def produce(self, events: Sequence[Numbered]) -> None:
        await publish_events(
            self.kafka, [e.model_copy(update={"topic": self.topic}) for e in events]
        )
        self.produced += len(events)

    def lines(self, kind: str = "done") -> collections.Counter[int]:
        """How often each seq was ``start``-ed or ``done`` across every process."""
        return journal_lines(self.out, kind)

    def handled_by(self, seq: int) -> list[str]:
        """The workers whose output has ``done <seq>`` (once per time)."""
        return [
            path.stem
            for path in sorted(self.out.glob("*.log"))
            for line in path.read_text().splitlines()
            if line == f"done {seq}"
        ]

    def lines_of(self, name: str, kind: str = "done") -> set[int]:
        path = self.out / f"{name}.log"
        if not path.exists():
            return set()
        return {
            int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith(kind)
        }

    async def lag(self, partitions: int) -> dict[int, int]:
        """Per partition: end offset minus the group's committed offset (0: all committed).

        End offsets come from reading the topic (every produced record) rather
        than ListOffsets, which Tansu 0.6 answers wrongly after batched produces.
        """
        tps = [TopicPartition(self.topic, p) for p in range(partitions)]
        reader: Any = AIOKafkaConsumer(bootstrap_servers=self.kafka, enable_auto_commit=False)
        await reader.start()
        ends = dict.fromkeys(tps, 0)
        try:
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            read = 0
            async with asyncio.timeout(60):
                while read < self.produced:
                    batch = await reader.getmany(timeout_ms=500)
                    for tp, records in batch.items():
                        read += len(records)
                        ends[tp] = max(ends[tp], records[-1].offset + 1)
        finally:
            await reader.stop()
        committed = await committed_offsets(self.kafka, self.group, self.topic, partitions)
        return {tp.partition: ends[tp] - (committed[tp.partition] or 0) for tp in tps}
