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
import datetime
import logging
import time
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from cqrs_worker.dlq.deadline import Deadline
from cqrs_worker.dlq.letter import DeadLetter, text_headers
from cqrs_worker.dlq.replay import ReplayOptions, ReplayReport
from cqrs_worker.errors import ConfigurationError

__all__ = ["KafkaDeadLetters", "quietly", "replay_group"]

logger = logging.getLogger(__name__)

_POLL_MS = 500


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
        self.timeout = timeout
        self.client_options = dict(client_options or {})
        self.enable_idempotence = enable_idempotence
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        #: The cluster's topic names, read on connecting (replays check targets against it).
        self.topics: set[str] = set()

    async def __aenter__(self) -> KafkaDeadLetters:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            # A group id only to read and commit the replay mark: partitions are
            # assigned by hand, so the consumer never joins the group.
            group_id=self.group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            request_timeout_ms=int(self.timeout * 1000),
            **self.client_options,
        )
        try:
            async with asyncio.timeout(self.timeout):
                await consumer.start()
                self.topics = set(await consumer.topics())
        except (KafkaError, OSError, TimeoutError) as exc:
            await quietly(consumer.stop())
            raise ConfigurationError(
                f"cannot read from Kafka at {self.bootstrap} within {self.timeout:g}s "
                f"({type(exc).__name__}: {exc}); check the bootstrap address and that the "
                f"cluster is up"
            ) from exc
        if self.dlq_topic not in self.topics:
            await quietly(consumer.stop())
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
            await quietly(consumer.stop())

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
            if time.monotonic() - moved > self.timeout:
                raise ConfigurationError(
                    f"reading {self.dlq_topic!r} made no progress for {self.timeout:g}s "
                    f"(partitions {sorted(tp.partition for tp in ends)}); check the broker"
                )
            async with self.deadline("fetching dead letters"):
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
        from cqrs_worker.dlq.kafka_replay import KafkaReplayer

        return await KafkaReplayer(self).replay(
            options, from_beginning=from_beginning, progress=progress
        )

    async def commit_mark(self, mark: dict[TopicPartition, int]) -> None:
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

    def deadline(self, what: str) -> Deadline:
        """A bound of ``timeout`` seconds on ``what``: :class:`ConfigurationError` past it."""
        return Deadline(self.timeout, f"{what} on {self.bootstrap}")

    async def _call(self, action: Any) -> Any:
        async with self.deadline("asking for offsets"):
            return await action


def _letter(record: ConsumerRecord[bytes, bytes]) -> DeadLetter:
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


async def quietly(action: Any) -> None:
    """Await ``action`` (a client's ``stop()``) for at most 5 s; log, never raise."""
    try:
        async with asyncio.timeout(5.0):
            await action
    except Exception as exc:  # closing: nothing left to save
        logger.debug("closing a Kafka client failed (%s: %s)", type(exc).__name__, exc)
