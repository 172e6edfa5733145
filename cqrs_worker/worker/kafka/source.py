"""Consuming Kafka: :class:`KafkaSource`.

FastStream's broker owns the consumer (configuration, lifecycle, AsyncAPI);
this source drives it: one ``getmany`` loop
(:class:`~cqrs_worker.worker.kafka.fetcher.Fetcher`) fetches up to
``batch_size`` records at a time and hands each to the
:class:`~cqrs_worker.worker.lanes.Lanes` scheduler, in lanes keyed by
``(topic, partition, key)`` (a record without a key by ``(topic,
partition)``, so keyless records keep partition order). The contract of
:mod:`cqrs_worker.worker.pipeline` holds like this:

* an offset is committed only once every earlier fetched message of its
  partition finished (:class:`~cqrs_worker.worker.offsets.PartitionOffsets`);
  commits are batched, one request for all partitions, after each fetch round
  and at least every ``commit_interval`` seconds, never two at once;
* partitions revoked by a rebalance stop being dispatched; their queued and
  running deliveries get ``drain_timeout`` seconds to finish (then the queued
  ones are dropped and the running ones cancelled, never committed), their
  finished prefix is committed, and their state is dropped; the next owner
  starts at that commit;
* :meth:`KafkaSource.stop` pauses fetching, lets in-flight work finish within
  its timeout, cancels the rest, commits what finished and closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.observability import SourceGauges
from cqrs_worker.worker.kafka.assignment import Assignment
from cqrs_worker.worker.kafka.committer import Committer
from cqrs_worker.worker.kafka.connect import (
    build_broker,
    coordinator_known,
    group_timeouts,
    start_consumer,
    subscribe,
)
from cqrs_worker.worker.kafka.dead_letter import KafkaDeadLetterSink
from cqrs_worker.worker.kafka.due import DueGate
from cqrs_worker.worker.kafka.fetcher import Fetcher
from cqrs_worker.worker.kafka.flow import FlowControl
from cqrs_worker.worker.kafka.rebalance import RebalanceListener
from cqrs_worker.worker.ordering import LaneChooser, Ordering
from cqrs_worker.worker.pipeline import Pipeline
from cqrs_worker.worker.stats import WorkerStats

if TYPE_CHECKING:
    from cqrs_worker.worker.context import SourceContext

__all__ = ["KafkaSource"]

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 10.0


class KafkaSource:
    """A :class:`~cqrs_worker.worker.source.Source` for one Kafka consumer group.

    Keyword-only settings:

    * ``bootstrap``, ``group_id``, ``topics`` — where to consume from.
    * ``pipeline`` — the delivery pipeline (:func:`~cqrs_worker.worker.pipeline.build_pipeline`).
    * ``stats`` — counters; the source counts what it received and rebalances.
    * ``concurrency`` — deliveries handled at once (one key is always serial); one
      waiting between two retry attempts holds no slot.
    * ``ordering``/``ordering_key`` — which deliveries are serial: ``key``
      (default), ``partition`` or ``unordered``; ``ordering_key`` takes a
      keyless record's key from its envelope (:mod:`cqrs_worker.worker.ordering`).
    * ``batch_size`` — records per fetch.
    * ``instance_id`` — static group membership (``group.instance.id``), or ``None``.
    * ``dead_letters`` — the sink the pipeline dead-letters through, when it is
      a :class:`KafkaDeadLetterSink`: started by :meth:`start`, closed by :meth:`stop`.
    * ``retry_topics`` — the delayed retry topics (``<topic>.retry.<delay>``),
      consumed too; a partition of one waits until its next record is due.
    * ``consumer_options`` — more FastStream/aiokafka consumer settings
      (``session_timeout_ms``, ``heartbeat_interval_ms``, ``max_poll_interval_ms``,
      ``rebalance_timeout_ms``, ``auto_offset_reset`` (default ``earliest``), ...).
    * ``broker_options`` — :class:`faststream.kafka.KafkaBroker` settings
      (``security``, ``client_id``, ``request_timeout_ms``, ...).
    * ``drain_timeout`` — seconds revoked partitions' running deliveries may
      take; below the rebalance timeout (default: half of it).
    * ``max_pending`` — deliveries queued or running before only partitions whose
      work drains are fetched (default ``2 * batch_size``; see ``kafka.flow``);
      ``max_uncommitted`` — messages of one partition past its committable
      position before that partition pauses (default ``max(max_pending, 10_000)``).
    * ``start_timeout`` — seconds :meth:`start` may take to connect and get
      partitions; ``commit_interval``, ``commit_timeout``, ``fetch_timeout``.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        group_id: str,
        topics: Sequence[str],
        pipeline: Pipeline,
        stats: WorkerStats,
        concurrency: int = 64,
        ordering: Ordering = "key",
        ordering_key: str | None = None,
        batch_size: int = 1000,
        instance_id: str | None = None,
        dead_letters: KafkaDeadLetterSink | None = None,
        retry_topics: Sequence[str] = (),
        consumer_options: Mapping[str, Any] | None = None,
        broker_options: Mapping[str, Any] | None = None,
        drain_timeout: float | None = None,
        max_pending: int | None = None,
        max_uncommitted: int | None = None,
        start_timeout: float = 30.0,
        commit_interval: float = 1.0,
        commit_timeout: float = 10.0,
        fetch_timeout: float = 0.5,
        name: str = "kafka",
    ) -> None:
        if not topics:
            raise ConfigurationError("KafkaSource needs at least one topic")
        if not group_id:
            raise ConfigurationError("KafkaSource needs a consumer group id (CQRS_WORKER_GROUP_ID)")
        if batch_size < 1:
            raise ConfigurationError("batch_size must be at least 1")
        options = dict(consumer_options or {})
        self._bootstrap = bootstrap
        self._group_id = group_id
        # The delayed retry topics are consumed like the others, each
        # partition held back until its next record is due.
        self._topics = (*topics, *retry_topics)
        self._instance_id = instance_id
        self._dead_letters = dead_letters
        self._drain_timeout, stall_timeout = group_timeouts(drain_timeout, options)
        self._start_timeout = start_timeout
        self._commit_interval = commit_interval
        self._commit_timeout = commit_timeout
        self._fetch_timeout = fetch_timeout
        self._name = name
        self._stats = stats
        pending = max_pending if max_pending is not None else 2 * batch_size
        uncommitted = max_uncommitted if max_uncommitted else max(pending, 10_000)
        flow = FlowControl(max_pending=pending, max_uncommitted=uncommitted, batch_size=batch_size)
        self._assignment = Assignment(
            pipeline,
            concurrency=concurrency,
            flow=flow,
            idle=self._caught_up,
            lanes=LaneChooser(mode=ordering, key_from=ordering_key),
        )
        self._fetcher = Fetcher(
            self._assignment,
            flow,
            batch_size=batch_size,
            fetch_timeout=fetch_timeout,
            stall_timeout=stall_timeout,
            stats=stats,
            due=DueGate(retry_topics) if retry_topics else None,
        )
        self._listener = RebalanceListener(revoked=self._on_revoked, assigned=self._on_assigned)
        self._broker = build_broker(bootstrap, broker_options or {})
        # The TLS context FastStream's security object carries, to explain failures.
        security = (broker_options or {}).get("security")
        self._tls = getattr(security, "ssl_context", None)
        self._sasl = type(security).__name__.startswith("SASL")
        self._subscriber = subscribe(
            self._broker,
            self._topics,
            group_id=group_id,
            instance_id=instance_id,
            listener=self._listener,
            batch_size=batch_size,
            options=options,
        )
        self._consumer: Any = None
        self._committer: Committer | None = None
        self._started = False
        self._closed = False
        self._loop_done = asyncio.Event()
        self._loop_done.set()

    @classmethod
    def from_context(cls, context: SourceContext) -> KafkaSource:
        """The source, and its dead-letter sink, that the worker's settings describe."""
        from cqrs_worker.worker.kafka.factory import kafka_source

        return kafka_source(context)

    @property
    def name(self) -> str:
        return self._name

    @property
    def committer(self) -> Committer | None:
        """The committer once the consumer exists (its counters are useful in tests)."""
        return self._committer

    def ready(self) -> bool:
        """Started, partitions assigned, and the group coordinator reachable."""
        if not self._started or self._closed or not self._assignment.partitions:
            return False
        return coordinator_known(self._consumer)

    def gauges(self) -> SourceGauges:
        """Queued deliveries, and lag and commit age per assigned partition (for ``/metrics``).

        The end offset is the high watermark of the consumer's last fetch
        (``consumer.highwater``), not a ListOffsets request: it costs nothing,
        and Tansu's ListOffsets(latest) can report less than the end while the
        fetch high watermark is right. A partition not fetched yet has no lag.
        """
        consumer = self._consumer
        now = time.monotonic()
        gauges = SourceGauges(queued=self._assignment.lanes.queued)
        for tp, state in list(self._assignment.partitions.items()):
            key = (tp.topic, tp.partition)
            gauges.commit_age[key] = now - state.committed_at
            try:
                end = consumer.highwater(tp) if consumer is not None else None
            except AssertionError:  # unassigned meanwhile (aiokafka asserts it is assigned)
                continue
            lag = state.lag(end)
            if lag is not None:
                gauges.lag[key] = lag
        return gauges

    async def start(self) -> None:
        if self._started:
            return
        self._consumer = await start_consumer(
            self._broker,
            self._subscriber,
            self._listener,
            bootstrap=self._bootstrap,
            group_id=self._group_id,
            topics=self._topics,
            timeout=self._start_timeout,
            tls=self._tls,
            sasl=self._sasl,
        )
        if self._dead_letters is not None:
            try:
                await self._dead_letters.start()
            except BaseException:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(_CLOSE_TIMEOUT):
                        await self._broker.stop()
                raise
        self._commits()
        self._started = True
        logger.info(
            "consuming %s from Kafka at %s as group %r%s",
            ", ".join(self._topics),
            self._bootstrap,
            self._group_id,
            f" (static member {self._instance_id!r})" if self._instance_id else "",
        )

    async def run(self) -> None:
        if not self._started:
            raise RuntimeError("KafkaSource.run() before start()")
        committer = self._commits()
        self._loop_done.clear()
        commits = asyncio.get_running_loop().create_task(committer.run(), name="kafka-commits")
        try:
            await self._fetcher.run(self._consumer, committer)
        finally:
            committer.close()
            try:
                await commits
            finally:
                self._loop_done.set()

    async def stop(self, timeout: float) -> None:
        if self._closed:
            return
        self._closed = True
        self._fetcher.stop()
        try:
            if self._started:
                await self._drain(timeout)
        finally:
            if self._dead_letters is not None:
                await self._dead_letters.close()

    # -- commits -------------------------------------------------------------

    def _commits(self) -> Committer:
        # Created once the consumer exists: FastStream sets it before starting
        # it, so a rebalance during start() can already commit.
        if self._committer is None:
            self._committer = Committer(
                self._subscriber.consumer,
                self._assignment.states,
                interval=self._commit_interval,
                timeout=self._commit_timeout,
            )
        return self._committer

    def _caught_up(self) -> None:
        if self._committer is not None:
            self._committer.wake()  # nothing pending: commit now, not at the next round

    # -- rebalances ----------------------------------------------------------

    async def _on_revoked(self, tps: frozenset[Any]) -> None:
        states, dropped, cancelled = await self._assignment.revoke(tps, self._drain_timeout)
        if not states:
            return
        await self._commits().commit(states)
        logger.info(
            "revoked %d partition(s): %d queued delivery(ies) dropped, %d cancelled after "
            "%.1fs; finished work committed, the rest will be redelivered",
            len(states),
            dropped,
            cancelled,
            self._drain_timeout,
        )

    async def _on_assigned(self, tps: frozenset[Any]) -> None:
        self._stats.rebalances += 1
        self._assignment.assign(tps)

    # -- shutdown ------------------------------------------------------------

    async def _drain(self, timeout: float) -> None:
        consumer = self._consumer
        with contextlib.suppress(Exception):  # stopped or unassigned meanwhile: nothing to pause
            consumer.pause(*consumer.assignment())
        lanes = self._assignment.lanes
        if not await lanes.wait_idle(timeout):
            unfinished = lanes.pending
            await lanes.cancel()
            logger.warning(
                "%d delivery(ies) did not finish within %.1fs and were cancelled; they are "
                "not committed and will be redelivered",
                unfinished,
                timeout,
            )
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._fetch_timeout + self._commit_timeout):
                await self._loop_done.wait()
        await self._commits().commit(self._assignment.states())
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT):
                await self._broker.stop()
        except Exception as exc:
            logger.warning("closing the Kafka consumer failed (%s: %s)", type(exc).__name__, exc)
