"""The prefetch window of one RabbitMQ channel: :class:`PrefetchWindow`.

RabbitMQ sends a channel at most ``prefetch`` unacknowledged deliveries, in
queue order; it cannot skip a key. When one key's message keeps failing, the
messages of that key behind it wait in their lane (per-key order), stay
unacknowledged and, in a queue where that key is busy, fill the whole window:
no other key gets anything until the stuck one recovers.

So the window grows by what waits behind a delivery that is being retried,
checked every ``interval`` seconds: ``prefetch + held`` (in steps of a
quarter of ``prefetch``, so the QoS changes rarely), at most
``prefetch + max_held``, and back to ``prefetch`` once the key recovered. The
other keys keep about ``prefetch`` deliveries of room, and at most
``max_held`` more deliveries wait in memory. The finished deliveries behind a
stuck one are acknowledged one by one
(:class:`~cqrs_worker.worker.rabbitmq.acks.AckTracker`), so they do not fill
the window either. Nothing is rejected or requeued, so order is untouched.

The limit is channel-wide (``basic.qos`` with ``global``): a consumer's own
limit is fixed when it starts consuming, a channel's can change any time. Each
queue has a channel and a consumer of its own, so the two mean the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiormq

__all__ = ["PrefetchWindow"]

logger = logging.getLogger(__name__)


class PrefetchWindow:
    """Keeps the QoS of ``channel`` at ``prefetch`` plus what ``held()`` counts, bounded."""

    def __init__(
        self,
        channel: aiormq.Channel,
        *,
        queue: str,
        prefetch: int,
        max_held: int,
        held: Callable[[], int],
        interval: float,
    ) -> None:
        self._channel = channel
        self._queue = queue
        self._prefetch = prefetch
        self._max_held = max_held
        self._held = held
        self._interval = interval
        self._step = max(1, prefetch // 4)
        #: The prefetch count the channel has now.
        self.size = prefetch

    def wanted(self) -> int:
        """The window for what is held now: ``prefetch`` plus the held deliveries, rounded
        up to a step, at most ``prefetch + max_held``."""
        held = min(self._held(), self._max_held)
        if held <= 0:
            return self._prefetch
        steps = -(-held // self._step)
        return self._prefetch + min(steps * self._step, self._max_held)

    async def run(self) -> None:
        """Adjust the window every ``interval`` seconds until cancelled or the channel closes."""
        while not self._channel.is_closed:
            await asyncio.sleep(self._interval)
            size = self.wanted()
            if size == self.size:
                continue
            try:
                await self._channel.basic_qos(prefetch_count=size, global_=True)
            except (aiormq.ChannelInvalidStateError, aiormq.AMQPError, ConnectionError) as exc:
                logger.debug("could not change the prefetch of %r: %s", self._queue, exc)
                return  # the channel is gone; a reopened one starts a new window
            if size > self.size:
                logger.info(
                    "queue %r: deliveries wait behind a key being retried; prefetch raised "
                    "to %d (at most %d) so that other keys keep flowing",
                    self._queue,
                    size,
                    self._prefetch + self._max_held,
                )
            self.size = size
