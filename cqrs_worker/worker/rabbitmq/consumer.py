"""One queue consumed on its own channel: :class:`QueueConsumer`.

We consume on aiormq's channel under aio-pika's robust channel: one task per
delivery (aiormq's), no message wrapper, and the delivery tag handled by our
:class:`~cqrs_worker.worker.rabbitmq.acks.AckTracker`. The robust channel
restores the prefetch after a reconnect and calls us back to consume again
with a fresh tracker (the tags restart at 1).

A key whose message is being retried holds back only itself: the window
grows by what waits behind it, up to ``max_held`` more deliveries
(:class:`~cqrs_worker.worker.rabbitmq.window.PrefetchWindow`).

When the channel closes, RabbitMQ requeues every unacknowledged delivery:
those still waiting in a lane are dropped (their redelivered copies will
come), those running finish but are not acknowledged by the closed tracker.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Hashable
from typing import Any, cast

import aiormq
import aiormq.abc
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from pamqp.commands import Basic

from cqrs_worker.brokers.amqp import PARTITION_KEY_HEADER
from cqrs_worker.envelope import EVENT_NAME_HEADER
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.lanes import Lanes
from cqrs_worker.worker.rabbitmq.acks import AckTracker
from cqrs_worker.worker.rabbitmq.record import RabbitRecord
from cqrs_worker.worker.rabbitmq.window import PrefetchWindow
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["QueueConsumer"]

logger = logging.getLogger(__name__)

_CLOSE_TIMEOUT = 5.0
#: Seconds between looks at what waits behind a retried key (the prefetch window).
_WINDOW_INTERVAL = 0.25
_KEYS = (str, bytes, int)


class QueueConsumer:
    """Feeds one queue's deliveries to the shared :class:`Lanes` and acknowledges them."""

    def __init__(
        self,
        *,
        queue: str,
        lanes: Lanes,
        stats: WorkerStats,
        prefetch: int,
        max_held: int,
        ack_batch: int,
        ack_interval: float,
        order_unkeyed: bool,
        unkeyed_lanes: Callable[[], Hashable],
        on_cancelled: Callable[[str], None],
    ) -> None:
        self.queue = queue
        self._lanes = lanes
        self._stats = stats
        self._prefetch = prefetch
        self._max_held = max_held
        self._ack_batch = ack_batch
        self._ack_interval = ack_interval
        self._order_unkeyed = order_unkeyed
        self._unkeyed = unkeyed_lanes
        self._on_cancelled = on_cancelled
        self._channel: AbstractRobustChannel | None = None
        self._tracker: AckTracker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._tag: str | None = None
        self._stopped = False

    @property
    def consuming(self) -> bool:
        """Our consumer is registered on an open channel."""
        tracker = self._tracker
        if tracker is None or tracker.closed or self._stopped:
            return False
        amqp = tracker.channel
        return not amqp.is_closed and self._tag in amqp.consumers

    @property
    def unacked(self) -> int:
        """Deliveries of the current channel received and not yet acknowledged."""
        tracker = self._tracker
        return 0 if tracker is None or tracker.closed else tracker.unacked

    async def start(self, connection: AbstractRobustConnection) -> None:
        channel = connection.channel(publisher_confirms=False)
        await channel.initialize()
        # Channel-wide, so that the window can grow while we consume (PrefetchWindow).
        await channel.set_qos(prefetch_count=self._prefetch, global_=True)
        channel.reopen_callbacks.add(self._reopened)
        self._channel = channel
        await self._consume()

    async def cancel(self) -> None:
        """Stop receiving; what was delivered stays ours to finish (or requeue)."""
        self._stopped = True
        tracker, tag = self._tracker, self._tag
        if tracker is None or tag is None or tracker.closed or tracker.channel.is_closed:
            return
        with contextlib.suppress(aiormq.AMQPError, aiormq.ChannelInvalidStateError, TimeoutError):
            await tracker.channel.basic_cancel(tag, timeout=_CLOSE_TIMEOUT)

    async def close(self) -> None:
        """Send the last acks and close the channel (the broker requeues the rest)."""
        self._stopped = True
        tracker = self._tracker
        if tracker is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await tracker.flush()
            tracker.close()
        await self._stop_tasks()
        if self._channel is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(_CLOSE_TIMEOUT):
                    await self._channel.close()

    async def _consume(self) -> None:
        if self._channel is None:
            raise RuntimeError("QueueConsumer.start() opens the channel first")
        # aio-pika types the underlying channel abstractly; it is aiormq's.
        amqp = cast(aiormq.Channel, await self._channel.get_underlay_channel())
        tracker = AckTracker(amqp, batch=self._ack_batch, interval=self._ack_interval)
        await self._stop_tasks()
        self._tracker = tracker
        window = PrefetchWindow(
            amqp,
            queue=self.queue,
            prefetch=self._prefetch,
            max_held=self._max_held,
            held=lambda: sum(
                count
                for head, count in self._lanes.waiting_behind()
                if head.first_failure_at is not None and head.raw.tracker is tracker
            ),
            interval=_WINDOW_INTERVAL,
        )
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(tracker.run()), loop.create_task(window.run())]
        amqp.closing.add_done_callback(lambda _: self._lost(tracker))
        amqp.on_consumer_cancel_callbacks.add(self._cancelled_by_broker)
        ok = await amqp.basic_consume(self.queue, self._make_receiver(tracker))
        self._tag = ok.consumer_tag
        logger.info("consuming RabbitMQ queue %r (prefetch %d)", self.queue, self._prefetch)

    async def _stop_tasks(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _reopened(self, _channel: Any) -> None:
        if self._stopped:
            return
        try:
            await self._consume()
        except Exception:
            logger.exception("could not consume %r again after a reconnect", self.queue)

    def _cancelled_by_broker(self, frame: Basic.Cancel) -> None:
        # The queue was deleted (or failed over): nothing more will come from it.
        if frame.consumer_tag == self._tag and not self._stopped:
            self._on_cancelled(self.queue)

    def _lost(self, tracker: AckTracker) -> None:
        tracker.close()
        dropped = self._lanes.discard(lambda d: d.raw.tracker is tracker)
        if not self._stopped:
            logger.warning(
                "RabbitMQ channel of queue %r closed; %d waiting deliveries will be redelivered",
                self.queue,
                dropped,
            )

    def _make_receiver(self, tracker: AckTracker) -> Callable[[aiormq.abc.DeliveredMessage], Any]:
        queue = self.queue
        stats = self._stats
        add_received = stats.add_received
        submit = self._lanes.submit
        received = tracker.received
        ordered = self._order_unkeyed
        unkeyed = self._unkeyed

        async def receive(message: aiormq.abc.DeliveredMessage) -> None:
            tag = cast(Basic.Deliver, message.delivery).delivery_tag or 0
            received(tag)
            add_received(queue, 1)
            if cast(Basic.Deliver, message.delivery).redelivered:
                stats.add_redelivered(queue)
            headers = message.header.properties.headers
            name: Any = None
            key: Any = None
            if headers:
                name = headers.get(EVENT_NAME_HEADER)
                if not isinstance(name, str):
                    name = _text(name)
                key = headers.get(PARTITION_KEY_HEADER)
            if key is not None and isinstance(key, _KEYS):
                lane: Hashable = (queue, key)
            else:
                lane = (queue, None) if ordered else unkeyed()
            record = RabbitRecord(queue, message, tag, tracker)
            submit(Delivery(message.body, name, lane, record, destination=queue))

        return receive


def _text(value: Any) -> str | None:
    """A header value as text, or ``None`` (the codec then reads the name from the body)."""
    if isinstance(value, bytes):
        with contextlib.suppress(UnicodeDecodeError):
            return value.decode()
    return None


def new_unkeyed_lanes() -> Callable[[], Hashable]:
    """Lane keys for deliveries without a partition key when they need no order: all distinct."""
    return itertools.count().__next__
