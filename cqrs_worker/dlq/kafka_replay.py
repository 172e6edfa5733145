"""Replaying Kafka dead letters: :class:`KafkaReplayer` (see :mod:`cqrs_worker.dlq.kafka`)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from cqrs_worker.dlq.kafka import KafkaDeadLetters, quietly
from cqrs_worker.dlq.letter import DeadLetter
from cqrs_worker.dlq.marker import replay_headers
from cqrs_worker.dlq.replay import Pace, Progress, ReplayOptions, ReplayReport
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.kafka.dead_letter import ORIGINAL_PARTITION, ORIGINAL_TOPIC

__all__ = ["KafkaReplayer"]

# Sends awaited together: enough to keep the producer's batches full.
_CONFIRM_WINDOW = 200


class KafkaReplayer:
    """Sends the dead letters of an open :class:`KafkaDeadLetters` back, and moves its mark."""

    def __init__(self, letters: KafkaDeadLetters) -> None:
        self._letters = letters
        self._known_partitions: dict[str, set[int]] = {}

    async def replay(
        self,
        options: ReplayOptions,
        *,
        from_beginning: bool = False,
        progress: Callable[[str], object] | None = None,
    ) -> ReplayReport:
        """Send the matching dead letters back to their original topic."""
        dlq = self._letters
        report = ReplayReport(source=dlq.dlq_topic, dry_run=options.dry_run)
        producer = None if options.dry_run else await self._producer()
        pace = Pace(options.rate)
        ticker = Progress(progress) if progress is not None else None
        mark: dict[TopicPartition, int] = {}
        skipped_in: set[TopicPartition] = set()
        pending: list[asyncio.Future[Any]] = []
        try:
            async with contextlib.aclosing(dlq.letters(from_mark=not from_beginning)) as letters:
                async for record, letter in letters:
                    if options.count is not None and report.matched >= options.count:
                        break
                    report.read += 1
                    tp = TopicPartition(record.topic, record.partition)
                    target = letter.headers.get(ORIGINAL_TOPIC) or dlq.topic
                    if not options.filter.matches(letter):
                        skipped_in.add(tp)
                    elif target not in dlq.topics:
                        report.skip(f"original topic {target!r} missing")
                        skipped_in.add(tp)
                    else:
                        report.matched += 1
                        if producer is not None:
                            await pace.wait()
                            pending.append(await self._send(producer, record, letter, target))
                            if len(pending) >= _CONFIRM_WINDOW or options.rate is not None:
                                report.replayed += await self._confirm(pending)
                        if tp not in skipped_in:
                            mark[tp] = record.offset + 1
                    if ticker is not None:
                        ticker.update(report)
            report.replayed += await self._confirm(pending)
            if producer is not None and mark:
                await dlq.commit_mark(mark)
        finally:
            if producer is not None:
                await quietly(producer.stop())
        return report

    async def _producer(self) -> AIOKafkaProducer:
        dlq = self._letters
        producer = AIOKafkaProducer(
            bootstrap_servers=dlq.bootstrap,
            acks="all",
            enable_idempotence=dlq.enable_idempotence,
            request_timeout_ms=int(dlq.timeout * 1000),
            **dlq.client_options,
        )
        try:
            async with asyncio.timeout(dlq.timeout):
                await producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await quietly(producer.stop())
            raise ConfigurationError(
                f"cannot start a producer for Kafka at {dlq.bootstrap} ({type(exc).__name__}: "
                f"{exc}); against Tansu pass --no-kafka-idempotence"
            ) from exc
        return producer

    async def _send(
        self,
        producer: AIOKafkaProducer,
        record: ConsumerRecord[bytes, bytes],
        letter: DeadLetter,
        target: str,
    ) -> asyncio.Future[Any]:
        partition: int | None = None
        original = letter.headers.get(ORIGINAL_PARTITION)
        if original is not None and original.isdigit():
            # Back to the partition it came from: its key's order there is kept
            # even if the producer partitioned by something other than the key.
            known = self._known_partitions.get(target)
            if known is None:
                async with self._letters.deadline(f"asking for the partitions of {target!r}"):
                    known = self._known_partitions[target] = set(
                        await producer.partitions_for(target)
                    )
            partition = int(original) if int(original) in known else None
        headers = [
            (name, value if isinstance(value, bytes) else str(value).encode())
            for name, value in replay_headers(dict(record.headers)).items()
        ]
        async with self._letters.deadline(f"sending to {target!r}"):
            sent: asyncio.Future[Any] = await producer.send(
                target, record.value, key=record.key, headers=headers, partition=partition
            )
        return sent

    async def _confirm(self, pending: list[asyncio.Future[Any]]) -> int:
        futures, pending[:] = list(pending), []
        if not futures:
            return 0
        try:
            async with self._letters.deadline("waiting for Kafka to confirm the replayed messages"):
                await asyncio.gather(*futures)
        except KafkaError as exc:
            raise ConfigurationError(
                f"Kafka did not confirm a replayed message ({type(exc).__name__}: {exc}); "
                f"the replay mark was not moved, so a new replay sends them again"
            ) from exc
        return len(futures)
