"""Kafka dead-letter topics: :class:`KafkaDeadLetters` reads ``<topic><suffix>`` and replays it.

Reading uses a consumer that joins no group: it is assigned every partition
of the dead-letter topic and reads from the start (or from the replay mark)
up to the high watermark each partition had when it was first fetched.
Messages dead-lettered while the command runs (a replayed copy failing
again, say) are left for the next run, so a run always ends.

The end of a partition is the high watermark of the *fetch* responses, not a
ListOffsets(latest) answer: Tansu 0.6 can under-report the latter while the
fetch high watermark is right, and on Apache Kafka the two agree.

Replay marks: ``replay`` commits, for the consumer group
``cqrs-worker-dlq-replay.<topic>``, per partition the offset of the first
dead letter it did **not** replay (or the end, if it replayed them all). The
next replay starts there, so it does not send the same dead letters again;
``from_beginning`` ignores the mark. A filtered or ``count``-limited replay
therefore never hides a dead letter from a later one, but dead letters it
replayed *after* the first one it skipped are sent again by the next replay
(the inbox recognises them as handled). A dry run commits nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from cqrs_worker.dlq.letter import DeadLetter, text_headers
from cqrs_worker.dlq.marker import replay_headers
from cqrs_worker.dlq.replay import Pace, Progress, ReplayOptions, ReplayReport
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.worker.kafka.dead_letter import ORIGINAL_PARTITION, ORIGINAL_TOPIC

__all__ = ["KafkaDeadLetters", "replay_group"]

logger = logging.getLogger(__name__)

_POLL_MS = 500
_CONFIRM_WINDOW = 200


def replay_group(topic: str) -> str:
    """The consumer group whose offsets mark what was replayed from ``topic``'s dead letters."""
    return f"cqrs-worker-dlq-replay.{topic}"


class KafkaDeadLetters:
    """The dead letters of ``topic``: ``<topic><suffix>`` on the cluster at ``bootstrap``.

    Use as ``async with``: connecting checks that the dead-letter topic exists
    (:class:`ConfigurationError` otherwise, as for an unreachable cluster).
    ``timeout`` bounds connecting and each broker round trip; a partition
    that makes no progress for that long ends the command with an error.
    ``client_options`` go to the aiokafka clients (security settings).
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        topic: str,
        suffix: str = ".dlq",
        timeout: float = 15.0,
        client_options: Mapping[str, Any] | None = None,
        enable_idempotence: bool = False,
    ) -> None:
        if not suffix:
            raise ConfigurationError("the dead-letter suffix must not be empty")
        self.bootstrap = bootstrap
        self.topic = topic
        self.dlq_topic = f"{topic}{suffix}"
        self.group = replay_group(topic)
        self._timeout = timeout
        self._options = dict(client_options or {})
        self._idempotence = enable_idempotence
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._topics: set[str] = set()

    async def __aenter__(self) -> KafkaDeadLetters:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            # A group id only to read and commit the replay mark: partitions are
            # assigned by hand, so the consumer never joins the group.
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=int(self._timeout * 1000),
            **self._options,
        )
        try:
            async with asyncio.timeout(self._timeout):
                await consumer.start()
                self._topics = set(await consumer.topics())
        except (KafkaError, OSError, TimeoutError) as exc:
            await _quietly(consumer.stop())
            raise ConfigurationError(
                f"cannot read from Kafka at {self.bootstrap} within {self._timeout:g}s "
                f"({type(exc).__name__}: {exc}); check the bootstrap address and that the "
                f"cluster is up"
            ) from exc
        if self.dlq_topic not in self._topics:
            await _quietly(consumer.stop())
            raise ConfigurationError(
                f"Kafka at {self.bootstrap} has no topic {self.dlq_topic!r}: check the topic "
                f"name and --dlq-suffix (nothing was dead-lettered from {self.topic!r} yet?)"
            )
        partitions = consumer.partitions_for_topic(self.dlq_topic) or set()
        self._partitions = [TopicPartition(self.dlq_topic, p) for p in sorted(partitions)]
        consumer.assign(self._partitions)
        self._consumer = consumer
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await _quietly(consumer.stop())

    async def letters(
        self, *, from_mark: bool = False
    ) -> AsyncGenerator[tuple[ConsumerRecord[bytes, bytes], DeadLetter]]:
        """Every dead letter up to each partition's end, in offset order per partition.

        ``from_mark``: start each partition at the replay mark (if any)
        instead of its beginning.
        """
        consumer = self._require()
        ends: dict[TopicPartition, int | None] = {}
        for tp in self._partitions:
            committed = await self._call(consumer.committed(tp)) if from_mark else None
            if committed is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, committed)
            ends[tp] = None
        consumer.resume(*self._partitions)  # an earlier call paused them at their ends
        moved = time.monotonic()
        while ends:
            if time.monotonic() - moved > self._timeout:
                raise ConfigurationError(
                    f"reading {self.dlq_topic!r} made no progress for {self._timeout:g}s "
                    f"(partitions {sorted(tp.partition for tp in ends)}); check the broker"
                )
            async with self._deadline("fetching dead letters"):
                batch = await consumer.getmany(*ends, timeout_ms=_POLL_MS)
            for tp, records in batch.items():
                end = ends.get(tp)
                for record in records:
                    if end is not None and record.offset >= end:
                        break
                    moved = time.monotonic()
                    yield record, _letter(record)
            for tp in list(ends):
                if ends[tp] is None:
                    # The fetch high watermark, not ListOffsets (see the module docstring).
                    ends[tp] = consumer.highwater(tp)
                end = ends[tp]
                if end is not None and await self._call(consumer.position(tp)) >= end:
                    del ends[tp]
                    consumer.pause(tp)
                    moved = time.monotonic()

    async def replay(
        self,
        options: ReplayOptions,
        *,
        from_beginning: bool = False,
        progress: Callable[[str], object] | None = None,
    ) -> ReplayReport:
        """Send the matching dead letters back to their original topic; see the module docstring."""
        report = ReplayReport(source=self.dlq_topic, dry_run=options.dry_run)
        producer = None if options.dry_run else await self._producer()
        pace = Pace(options.rate)
        ticker = Progress(progress) if progress is not None else None
        mark: dict[TopicPartition, int] = {}
        skipped_in: set[TopicPartition] = set()
        pending: list[asyncio.Future[Any]] = []
        try:
            async with contextlib.aclosing(self.letters(from_mark=not from_beginning)) as letters:
                async for record, letter in letters:
                    if options.count is not None and report.matched >= options.count:
                        break
                    report.read += 1
                    tp = TopicPartition(record.topic, record.partition)
                    target = letter.headers.get(ORIGINAL_TOPIC) or self.topic
                    if not options.filter.matches(letter):
                        skipped_in.add(tp)
                    elif target not in self._topics:
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
                await self._commit(mark)
        finally:
            if producer is not None:
                await _quietly(producer.stop())
        return report

    async def _producer(self) -> AIOKafkaProducer:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            enable_idempotence=self._idempotence,
            request_timeout_ms=int(self._timeout * 1000),
            **self._options,
        )
        try:
            async with asyncio.timeout(self._timeout):
                await producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await _quietly(producer.stop())
            raise ConfigurationError(
                f"cannot start a producer for Kafka at {self.bootstrap} ({type(exc).__name__}: "
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
            known = producer.client.cluster.partitions_for_topic(target) or set()
            partition = int(original) if int(original) in known else None
        headers = [
            (name, value if isinstance(value, bytes) else str(value).encode())
            for name, value in replay_headers(dict(record.headers)).items()
        ]
        async with self._deadline(f"sending to {target!r}"):
            sent: asyncio.Future[Any] = await producer.send(
                target, record.value, key=record.key, headers=headers, partition=partition
            )
        return sent

    async def _confirm(self, pending: list[asyncio.Future[Any]]) -> int:
        futures, pending[:] = list(pending), []
        if not futures:
            return 0
        try:
            async with self._deadline("waiting for Kafka to confirm the replayed messages"):
                await asyncio.gather(*futures)
        except KafkaError as exc:
            raise ConfigurationError(
                f"Kafka did not confirm a replayed message ({type(exc).__name__}: {exc}); "
                f"the replay mark was not moved, so a new replay sends them again"
            ) from exc
        return len(futures)

    async def _commit(self, mark: dict[TopicPartition, int]) -> None:
        consumer = self._require()
        offsets = {tp: OffsetAndMetadata(offset, "") for tp, offset in mark.items()}
        try:
            await self._call(consumer.commit(offsets))
        except KafkaError as exc:
            raise ConfigurationError(
                f"the dead letters were replayed but the replay mark of group {self.group!r} "
                f"was not committed ({type(exc).__name__}: {exc}); the next replay sends "
                f"them again"
            ) from exc

    def _require(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("use KafkaDeadLetters as 'async with'")
        return self._consumer

    def _deadline(self, what: str) -> _Deadline:
        return _Deadline(self._timeout, f"{what} on {self.bootstrap}")

    async def _call(self, action: Any) -> Any:
        async with self._deadline("asking for offsets"):
            return await action


class _Deadline:
    """``asyncio.timeout`` that ends in a :class:`ConfigurationError` naming what hung."""

    def __init__(self, seconds: float, what: str) -> None:
        self._timeout = asyncio.timeout(seconds)
        self._seconds = seconds
        self._what = what

    async def __aenter__(self) -> None:
        await self._timeout.__aenter__()

    async def __aexit__(self, kind: Any, exc: Any, tb: Any) -> None:
        try:
            await self._timeout.__aexit__(kind, exc, tb)
        except TimeoutError as error:
            raise ConfigurationError(
                f"no answer within {self._seconds:g}s while {self._what}; check that the "
                f"broker is up (raise --timeout if it is only slow)"
            ) from error


def _letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    import datetime

    key = None
    if record.key is not None:
        key = bytes(record.key).decode("utf-8", "replace")
    stamp = (
        datetime.datetime.fromtimestamp(record.timestamp / 1000, datetime.UTC)
        if record.timestamp and record.timestamp > 0
        else None
    )
    return DeadLetter(
        body=bytes(record.value or b""),
        headers=text_headers(record.headers),
        key=key,
        where=f"{record.topic}[{record.partition}]@{record.offset}",
        timestamp=stamp,
    )


async def _quietly(action: Any) -> None:
    try:
        async with asyncio.timeout(5.0):
            await action
    except Exception as exc:  # closing: nothing left to save
        logger.debug("closing a Kafka client failed (%s: %s)", type(exc).__name__, exc)
