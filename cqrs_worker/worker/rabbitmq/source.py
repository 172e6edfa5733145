"""Consuming RabbitMQ: :class:`RabbitSource`.

FastStream declares the topology (:mod:`~cqrs_worker.worker.rabbitmq.topology`)
and owns the robust connection; each queue is consumed on its own channel
with a prefetch window (:class:`~cqrs_worker.worker.rabbitmq.consumer.QueueConsumer`).
Deliveries run through the shared :class:`~cqrs_worker.worker.lanes.Lanes`:
in order per ``(queue, partition_key header)``, concurrently across keys
(``ORDERING`` changes that: :mod:`cqrs_worker.worker.ordering`).
Acknowledgements are batched and never pass an unfinished delivery
(:class:`~cqrs_worker.worker.rabbitmq.acks.AckTracker`). The delivery contract
is :mod:`cqrs_worker.worker.pipeline`.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Sequence

from aio_pika.abc import AbstractRobustConnection
from faststream.rabbit import RabbitBroker

from cqrs_worker.errors import ConfigurationError
from cqrs_worker.observability import SourceGauges
from cqrs_worker.security import amqp_ssl_context
from cqrs_worker.security import redact_url as redact
from cqrs_worker.worker.context import SourceContext
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.lanes import Lanes
from cqrs_worker.worker.ordering import LaneChooser
from cqrs_worker.worker.pipeline import Pipeline
from cqrs_worker.worker.rabbitmq.consumer import QueueConsumer
from cqrs_worker.worker.rabbitmq.dead_letter import RabbitDeadLetterSink
from cqrs_worker.worker.rabbitmq.queues import QueueSpec, queue_specs
from cqrs_worker.worker.rabbitmq.retry_queues import RabbitRetrySink
from cqrs_worker.worker.rabbitmq.topology import connect, step, stop_quietly
from cqrs_worker.worker.retry_stages import RetryStage
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["RabbitSource"]

logger = logging.getLogger(__name__)


class RabbitSource:
    """The :class:`~cqrs_worker.worker.source.Source` for RabbitMQ.

    Keyword-only settings:

    * ``url`` — ``amqp://user:password@host:5672/vhost``.
    * ``queues`` — what to consume: :class:`QueueSpec` (a name and the
      routing keys binding it to ``exchange``), or a name, meaning the queue
      of that name bound with the routing key of that name.
    * ``pipeline`` — from :func:`~cqrs_worker.worker.pipeline.build_pipeline`.
    * ``stats`` — the worker's counters (received and redelivered ones are counted here).
    * ``dead_letters`` — the :class:`RabbitDeadLetterSink` the pipeline
      dead-letters through; the source starts it on its connection and
      closes it. Its exchange must be ``dead_letter_exchange``.
    * ``retry_stages`` and ``retry_sink`` — delayed retry stages
      (``RETRY_TOPICS``): the delay queues ``<queue>.retry.<delay>`` are
      declared at start and the sink (which the pipeline moves deliveries
      through) is started on the connection.
    * ``exchange`` — the topic exchange publishers send to (``cqrs.events``).
    * ``dead_letter_exchange`` — default ``<exchange>.dlx``; ``dlq_suffix``
      names each queue's dead-letter queue, ``<queue><dlq_suffix>``.
    * ``concurrency`` — deliveries handled at once, across all queues; one waiting
      between two retry attempts holds no slot.
    * ``prefetch`` — unacknowledged deliveries per queue (channel QoS); it grows
      by what waits behind a key being retried, by at most ``max_held``
      (default ``4 * prefetch``), so that a stuck key holds back only itself.
    * ``ordering`` — the :class:`~cqrs_worker.worker.ordering.LaneChooser`
      (``ORDERING``): by default deliveries with one ``partition_key`` header
      (our publishers set it from the event's partition key) run in order and
      those without one run one at a time, in queue order; ``partition``
      serializes the queue, ``unordered`` runs everything concurrently.
    * ``ack_batch``/``ack_interval`` — an ack goes out when that many more
      deliveries may be acknowledged, or that many seconds after the first.
    * ``connect_timeout`` — bounds :meth:`start` (connect and declare);
      ``reconnect_interval`` — seconds between reconnect attempts.
    * ``ssl_context`` — TLS for an ``amqps://`` URL (CA, client certificate);
      :func:`~cqrs_worker.security.amqp_ssl_context` builds it from the settings.
    """

    def __init__(
        self,
        *,
        url: str,
        queues: Sequence[QueueSpec | str],
        pipeline: Pipeline,
        stats: WorkerStats,
        dead_letters: RabbitDeadLetterSink | None = None,
        retry_stages: Sequence[RetryStage] = (),
        retry_sink: RabbitRetrySink | None = None,
        exchange: str = "cqrs.events",
        dead_letter_exchange: str | None = None,
        dlq_suffix: str = ".dlq",
        concurrency: int = 64,
        prefetch: int = 256,
        max_held: int | None = None,
        ordering: LaneChooser | None = None,
        ack_batch: int = 64,
        ack_interval: float = 0.05,
        connect_timeout: float = 10.0,
        reconnect_interval: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        name: str = "rabbitmq",
    ) -> None:
        self._specs = tuple(QueueSpec.of(q) for q in queues)
        if not self._specs:
            raise ConfigurationError("RabbitSource needs at least one queue to consume")
        if prefetch < 1 or ack_batch < 1 or ack_interval <= 0 or not dlq_suffix:
            raise ConfigurationError(
                "prefetch and ack_batch must be at least 1, ack_interval positive and "
                "dlq_suffix not empty"
            )
        self.dead_letter_exchange = dead_letter_exchange or f"{exchange}.dlx"
        if dead_letters is not None and dead_letters.exchange != self.dead_letter_exchange:
            raise ConfigurationError(
                f"the dead-letter sink publishes to {dead_letters.exchange!r} but the queues "
                f"dead-letter to {self.dead_letter_exchange!r}; give both the same exchange"
            )
        self.url = url
        self.exchange = exchange
        self._name = name
        self._stats = stats
        self._sink = dead_letters
        self._retry_stages = tuple(retry_stages)
        self._retry_sink = retry_sink
        self._dlq_suffix = dlq_suffix
        self._connect_timeout = connect_timeout
        self._reconnect_interval = reconnect_interval
        self._ssl_context = ssl_context
        self._lanes = Lanes(pipeline, _acknowledge, concurrency=concurrency)
        choose = ordering if ordering is not None else LaneChooser()
        self._consumers = [
            QueueConsumer(
                queue=spec.name,
                lanes=self._lanes,
                stats=stats,
                prefetch=prefetch,
                max_held=4 * prefetch if max_held is None else max_held,
                ack_batch=ack_batch,
                ack_interval=ack_interval,
                lane_of=choose,
                on_cancelled=self._cancelled,
            )
            for spec in self._specs
        ]
        self._broker: RabbitBroker | None = None
        self._connection: AbstractRobustConnection | None = None
        self._stopping = False
        self._stopped = asyncio.Event()
        self._failure: ConfigurationError | None = None
        self._halt = asyncio.Event()

    @classmethod
    def from_context(cls, context: SourceContext) -> RabbitSource:
        """The source the worker settings describe (``CQRS_WORKER_RABBITMQ_*``, ``QUEUES``, ...)."""
        settings = context.settings
        if settings.rabbitmq_url is None:
            raise ConfigurationError("set CQRS_WORKER_RABBITMQ_URL to consume from RabbitMQ")
        exchange = settings.rabbitmq_exchange
        sink = RabbitDeadLetterSink(exchange=f"{exchange}.dlx")
        stages = context.retry_stages
        retry = RabbitRetrySink() if stages else None
        return cls(
            url=settings.rabbitmq_url,
            queues=queue_specs(
                topics=context.topics, queues=settings.queues, group_id=settings.group_id
            ),
            pipeline=context.pipeline(sink, retry),
            stats=context.stats,
            dead_letters=sink,
            retry_stages=stages,
            retry_sink=retry,
            exchange=exchange,
            dead_letter_exchange=sink.exchange,
            dlq_suffix=settings.dlq_suffix,
            concurrency=settings.concurrency,
            ordering=LaneChooser(mode=settings.ordering, key_from=settings.ordering_key),
            prefetch=settings.prefetch,
            reconnect_interval=settings.rabbitmq_reconnect_interval,
            ssl_context=amqp_ssl_context(settings.rabbitmq_url, settings),
        )

    @property
    def name(self) -> str:
        return self._name

    @property
    def queues(self) -> tuple[QueueSpec, ...]:
        return self._specs

    def ready(self) -> bool:
        """Connected, and consuming every queue."""
        connection = self._connection
        if connection is None or self._stopping or not connection.connected.is_set():
            return False
        return all(consumer.consuming for consumer in self._consumers)

    def gauges(self) -> SourceGauges:
        """Queued deliveries and the unacknowledged ones per queue (for ``/metrics``)."""
        return SourceGauges(
            queued=self._lanes.queued,
            unacked={consumer.queue: consumer.unacked for consumer in self._consumers},
        )

    async def start(self) -> None:
        self._broker, self._connection = await connect(
            url=self.url,
            exchange=self.exchange,
            dead_letter_exchange=self.dead_letter_exchange,
            queues=self._specs,
            dlq_suffix=self._dlq_suffix,
            timeout=self._connect_timeout,
            reconnect_interval=self._reconnect_interval,
            ssl_context=self._ssl_context,
            retry_stages=self._retry_stages,
        )
        connection = self._connection
        try:
            async with asyncio.timeout(self._connect_timeout):
                if self._sink is not None:
                    await step(self._sink.start(connection), "open the dead-letter channel")
                if self._retry_sink is not None:
                    await step(self._retry_sink.start(connection), "open the retry-stage channel")
                for consumer in self._consumers:
                    await step(consumer.start(connection), f"consume the queue {consumer.queue!r}")
        except BaseException as exc:
            await self._close()
            if isinstance(exc, TimeoutError):
                raise ConfigurationError(
                    f"RabbitMQ at {redact(self.url)} did not start our consumers within "
                    f"{self._connect_timeout:.0f}s; check that the broker is healthy"
                ) from exc
            raise

    async def run(self) -> None:
        """Wait until :meth:`stop`; raise if RabbitMQ cancelled a consumer (queue deleted)."""
        if self._connection is None:
            raise RuntimeError("call start() before run()")
        await self._halt.wait()
        if self._failure is not None:
            raise self._failure

    async def stop(self, timeout: float) -> None:
        """Stop consuming, let in-flight work finish for ``timeout`` seconds, cancel the rest
        (never acknowledged: RabbitMQ redelivers it), send the last acks, close."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        self._halt.set()
        try:
            for consumer in self._consumers:
                await consumer.cancel()
            if not await self._lanes.wait_idle(timeout):
                logger.warning(
                    "%d RabbitMQ deliveries unfinished after %.1fs; cancelling them "
                    "(not acknowledged: they will be redelivered)",
                    self._lanes.pending,
                    timeout,
                )
                await self._lanes.cancel()
        finally:
            await self._close()
            self._stopped.set()

    def _cancelled(self, queue: str) -> None:
        if self._failure is None:
            self._failure = ConfigurationError(
                f"RabbitMQ cancelled the consumer of queue {queue!r} (was it deleted?); "
                f"restart the worker to declare it again"
            )
        self._halt.set()

    async def _close(self) -> None:
        for consumer in self._consumers:
            await consumer.close()
        if self._sink is not None:
            await self._sink.close()
        if self._retry_sink is not None:
            await self._retry_sink.close()
        broker, self._broker = self._broker, None
        if broker is not None:
            await stop_quietly(broker)


def _acknowledge(delivery: Delivery) -> None:
    record = delivery.raw
    record.tracker.finished(record.tag)
