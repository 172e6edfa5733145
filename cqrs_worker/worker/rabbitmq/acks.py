"""Batched acknowledgements on one channel: :class:`AckTracker`.

RabbitMQ numbers a channel's deliveries 1, 2, 3, ... (the delivery tag), and
``basic.ack(tag, multiple=True)`` acknowledges *every* unacknowledged
delivery of the channel up to ``tag``. Deliveries finish out of order
(different keys run concurrently), so the tracker acknowledges only up to the
highest tag below which every delivery finished, exactly like a Kafka commit
never passes unfinished work (it reuses
:class:`~cqrs_worker.worker.offsets.PartitionOffsets`). A delivery still
running, waiting or retrying holds back the acks of every later one; they
stay unacknowledged, and are redelivered if the channel goes away.

Acks go out when ``batch`` more deliveries became acknowledgeable, or
``interval`` seconds after the first of them, whichever comes first.

A delivery that keeps failing would otherwise keep every later one
unacknowledged, and they would fill the prefetch window (RabbitMQ counts
unacknowledged deliveries) until no other key gets anything. So once
``batch`` deliveries finished behind an unfinished one, they are acknowledged
one by one (``multiple=False``): the window keeps room for other keys, and
per-key order is untouched (only finished deliveries are acknowledged). A
later multiple ack names a tag that is still unacknowledged (RabbitMQ closes
the channel on a multiple ack naming a settled tag; settled tags below the
named one are skipped). We never reject or nack (dead letters are published,
then acknowledged).

The tracker relies on seeing every delivery of its channel (one consumer
per channel): a multiple ack would also settle a delivery it never saw. Tags
that skip a number are therefore treated as a bug to contain, not to trust:
the tracker stops acknowledging and closes the channel, so RabbitMQ
redelivers everything unacknowledged and the consumer starts afresh.

A tracker belongs to one channel: when that channel closes, the broker
requeues everything unacknowledged and a reopened channel numbers its
deliveries from 1 again, so the consumer starts a new tracker and the old
one is closed, acknowledging nothing more.
"""

from __future__ import annotations

import asyncio
import logging

import aiormq
import aiormq.abc

from cqrs_worker.worker.offsets import PartitionOffsets

__all__ = ["AckTracker"]

logger = logging.getLogger(__name__)


class AckTracker:
    """Delivery tags of one channel: received, finished, acknowledged."""

    __slots__ = (
        "_acked",
        "_batch",
        "_closer",
        "_interval",
        "_last",
        "_offsets",
        "_settled",
        "_timer",
        "_wake",
        "channel",
        "closed",
    )

    def __init__(self, channel: aiormq.Channel, *, batch: int, interval: float) -> None:
        if batch < 1 or interval <= 0:
            raise ValueError("the ack batch must be at least 1 and the interval positive")
        self.channel = channel
        self.closed = False
        self._batch = batch
        self._interval = interval
        self._offsets = PartitionOffsets()
        #: Finished tags above the watermark that were acknowledged one by one.
        self._settled: set[int] = set()
        self._acked = 0
        self._last = 0
        self._closer: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._timer: asyncio.TimerHandle | None = None

    @property
    def unacked(self) -> int:
        """Deliveries received and not yet acknowledged (finished or not)."""
        offsets = self._offsets
        return offsets.outstanding - len(self._settled) + (self._position() - 1 - self._acked)

    @property
    def behind(self) -> int:
        """Deliveries finished behind an unfinished one, not yet acknowledged (exact after a
        :meth:`flush`; until then it may count too few)."""
        offsets = self._offsets
        return offsets.outstanding - offsets.unfinished - len(self._settled)

    def received(self, tag: int) -> None:
        """Record a delivery; tags arrive in order, 1, 2, 3, ..."""
        if tag != self._last + 1 and not self.closed:
            self._skipped(tag)
        self._last = tag
        self._offsets.fetched(tag)

    def finished(self, tag: int) -> None:
        """Record that the delivery ``tag`` may be acknowledged (handled or dead-lettered)."""
        self._offsets.finished(tag)
        if self.closed:
            return
        waiting = self._position() - 1 - self._acked
        if waiting >= self._batch or self.behind >= self._batch:
            self._wake.set()
        elif waiting > 0 and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self._interval, self._wake.set)

    async def run(self) -> None:
        """Send the acks as they become due, until the task is cancelled."""
        while not self.closed:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()

    async def flush(self) -> None:
        """Acknowledge everything acknowledgeable now (one frame)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        upto = self._position() - 1
        if self.closed:
            return
        try:
            if upto > self._acked:
                await self._ack_upto(upto)
            if self.behind >= self._batch:
                await self._ack_behind()
        except (aiormq.ChannelInvalidStateError, aiormq.AMQPError, ConnectionError) as exc:
            # The channel is gone: RabbitMQ requeues what it had not acknowledged.
            logger.info(
                "could not acknowledge up to delivery %d (%s); it will be redelivered", upto, exc
            )
            self.close()

    async def _ack_upto(self, upto: int) -> None:
        settled, acked = self._settled, self._acked
        self._acked = upto
        named = upto
        while named > acked and named in settled:  # name a tag still unacknowledged
            named -= 1
        if settled:
            self._settled = {tag for tag in settled if tag > upto}
        if named > acked:
            await self.channel.basic_ack(named, multiple=True)

    async def _ack_behind(self) -> None:
        tags = sorted(self._offsets.finished_tags() - self._settled)
        self._settled.update(tags)
        for tag in tags:
            await self.channel.basic_ack(tag, multiple=False)

    def close(self) -> None:
        """Stop acknowledging (the channel closed); later completions are ignored."""
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._wake.set()

    def _skipped(self, tag: int) -> None:
        logger.error(
            "RabbitMQ delivery tags jumped from %d to %d: closing the channel so that no "
            "delivery we did not see is acknowledged (RabbitMQ redelivers what was unacked)",
            self._last,
            tag,
        )
        self.close()
        self._closer = asyncio.get_running_loop().create_task(self.channel.close())

    def _position(self) -> int:
        position = self._offsets.committable
        return 1 if position is None else position
