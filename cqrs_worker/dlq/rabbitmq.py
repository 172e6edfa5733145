"""RabbitMQ dead-letter queues: :class:`RabbitDeadLetters` reads ``<queue><suffix>`` and replays it.

RabbitMQ has no way to read a queue without taking messages off it, so
``show`` and ``stats`` take them with ``basic.get`` (manual acknowledgement)
and hold them unacknowledged while they read (at most ``limit``), then give
every one back with one ``basic.nack(multiple, requeue)``. RabbitMQ puts
requeued messages back in their original positions: nothing is lost and the
order stays, but they come back flagged ``redelivered``, and while the
command holds them nobody else sees them. A command that dies holding them
loses nothing either: closing the channel requeues them.

``replay`` takes the dead letters the same way, reading at most as many as
the queue held when it started (copies that fail again and come back while
it runs wait for the next run). A matching one is published, persistent and
mandatory with publisher confirms, **to its original queue** through the
default exchange (``x-dlq-original-queue``, else the queue this dead-letter
queue belongs to), and acknowledged (so removed) only after RabbitMQ
confirmed the copy. Publishing to the original exchange and routing key
instead would also deliver a copy to every other queue bound there, whose
consumers handled the event the first time. The others are given back as
``show`` does. A dry run gives every one back.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import ssl
from collections.abc import Callable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractChannel,
    AbstractConnection,
    AbstractIncomingMessage,
    AbstractQueue,
)

from cqrs_worker.brokers._failure import describe
from cqrs_worker.dlq.letter import DeadLetter, text_headers
from cqrs_worker.dlq.marker import replay_headers
from cqrs_worker.dlq.replay import Pace, Progress, ReplayOptions, ReplayReport
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import redact_url
from cqrs_worker.worker.rabbitmq.dead_letter import ORIGINAL_QUEUE
from cqrs_worker.worker.rabbitmq.message_copy import persistent_copy

__all__ = ["RabbitDeadLetters"]

logger = logging.getLogger(__name__)

_FAILURES = (aiormq.AMQPError, aiormq.ChannelInvalidStateError, ConnectionError, OSError)


class RabbitDeadLetters:
    """The dead letters of ``queue``: the queue ``<queue><suffix>`` at ``url``.

    Use as ``async with``: connecting checks that the dead-letter queue
    exists (:class:`ConfigurationError` otherwise, as for an unreachable
    broker). ``timeout`` bounds connecting and each broker round trip.
    """

    def __init__(
        self,
        *,
        url: str,
        queue: str,
        suffix: str = ".dlq",
        timeout: float = 15.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not suffix:
            raise ConfigurationError("the dead-letter suffix must not be empty")
        self.url = url
        self.queue = queue
        self.dlq = f"{queue}{suffix}"
        self._timeout = timeout
        self._ssl = ssl_context
        self._connection: AbstractConnection | None = None
        self._channel: AbstractChannel | None = None
        self._queue: AbstractQueue | None = None
        self.in_queue = 0

    async def __aenter__(self) -> RabbitDeadLetters:
        where = redact_url(self.url)
        try:
            async with asyncio.timeout(self._timeout):
                # Not robust: a command that loses its connection stops (what it
                # held unacknowledged goes back to the queue) rather than reconnect.
                connection = await aio_pika.connect(
                    self.url, timeout=self._timeout, ssl_context=self._ssl
                )
        except (*_FAILURES, TimeoutError) as exc:
            raise ConfigurationError(
                f"cannot connect to RabbitMQ at {where} within {self._timeout:g}s "
                f"({describe(exc)}); check the URL and that RabbitMQ is up"
            ) from exc
        self._connection = connection
        try:
            async with asyncio.timeout(self._timeout):
                channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
                queue = await channel.declare_queue(self.dlq, passive=True)
        except aiormq.exceptions.ChannelNotFoundEntity as exc:
            await self.__aexit__()
            raise ConfigurationError(
                f"RabbitMQ at {where} has no queue {self.dlq!r}: check the queue name and "
                f"--dlq-suffix (the worker declares it when it starts)"
            ) from exc
        except (*_FAILURES, TimeoutError) as exc:
            await self.__aexit__()
            raise ConfigurationError(
                f"cannot open the dead-letter queue {self.dlq!r} at {where} ({describe(exc)})"
            ) from exc
        self._channel, self._queue = channel, queue
        result = queue.declaration_result
        self.in_queue = int(getattr(result, "message_count", 0) or 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        connection, self._connection, self._channel, self._queue = (
            self._connection,
            None,
            None,
            None,
        )
        if connection is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await connection.close()  # requeues whatever is still held

    async def browse(self, limit: int) -> list[DeadLetter]:
        """Up to ``limit`` dead letters from the head of the queue, all given back."""
        held = await self._take(limit)
        try:
            return [_letter(self.dlq, message, i) for i, message in enumerate(held, 1)]
        finally:
            await self._give_back(held)

    async def replay(
        self, options: ReplayOptions, *, progress: Callable[[str], object] | None = None
    ) -> ReplayReport:
        """Publish the matching dead letters to their original queue; see the module docstring."""
        report = ReplayReport(source=self.dlq, dry_run=options.dry_run)
        channel, queue = self._require()
        pace = Pace(options.rate)
        ticker = Progress(progress) if progress is not None else None
        budget = self.in_queue
        held: list[AbstractIncomingMessage] = []
        try:
            while report.read < budget:
                if options.count is not None and report.matched >= options.count:
                    break
                message = await self._get(queue)
                if message is None:
                    break
                report.read += 1
                letter = _letter(self.dlq, message, report.read)
                matches = options.filter.matches(letter)
                report.matched += matches
                if options.dry_run or not matches:
                    held.append(message)
                else:
                    await pace.wait()
                    target = letter.headers.get(ORIGINAL_QUEUE) or self.queue
                    await self._publish(channel, message, target)
                    await self._call(message.ack(), "acknowledging a replayed dead letter")
                    report.replayed += 1
                if ticker is not None:
                    ticker.update(report, budget)
        finally:
            await self._give_back(held)
        return report

    async def _take(self, limit: int) -> list[AbstractIncomingMessage]:
        _, queue = self._require()
        held: list[AbstractIncomingMessage] = []
        try:
            while len(held) < limit:
                message = await self._get(queue)
                if message is None:
                    break
                held.append(message)
        except BaseException:
            await self._give_back(held)
            raise
        return held

    async def _get(self, queue: AbstractQueue) -> AbstractIncomingMessage | None:
        return await self._call(queue.get(no_ack=False, fail=False), "reading the dead letters")  # type: ignore[no-any-return]  # _call is untyped

    async def _publish(
        self, channel: AbstractChannel, message: AbstractIncomingMessage, target: str
    ) -> None:
        headers = replay_headers(dict(message.headers or {}))
        copy = persistent_copy(message.body, headers, message.properties)
        try:
            await self._call(
                channel.default_exchange.publish(copy, routing_key=target, mandatory=True),
                f"publishing to {target!r}",
            )
        except aio_pika.exceptions.DeliveryError as exc:
            raise ConfigurationError(
                f"RabbitMQ could not route a replayed dead letter to queue {target!r} "
                f"({describe(exc)}): does the queue exist? The dead letter stays in {self.dlq!r}"
            ) from exc

    async def _give_back(self, held: list[AbstractIncomingMessage]) -> None:
        """Requeue every held message in one frame (their positions are kept)."""
        if not held:
            return
        last, held[:] = held[-1], []
        try:
            await self._call(last.nack(multiple=True, requeue=True), "giving dead letters back")
        except ConfigurationError as exc:
            # Closing the channel (on exit) requeues them as well.
            logger.warning("%s; they are requeued when the connection closes", exc)

    async def _call(self, action: Any, what: str) -> Any:
        try:
            async with asyncio.timeout(self._timeout):
                return await action
        except TimeoutError as exc:
            raise ConfigurationError(
                f"RabbitMQ did not answer within {self._timeout:g}s while {what}"
            ) from exc
        except _FAILURES as exc:
            raise ConfigurationError(f"RabbitMQ failed while {what} ({describe(exc)})") from exc

    def _require(self) -> tuple[AbstractChannel, AbstractQueue]:
        if self._channel is None or self._queue is None:
            raise RuntimeError("use RabbitDeadLetters as 'async with'")
        return self._channel, self._queue


def _letter(dlq: str, message: AbstractIncomingMessage, position: int) -> DeadLetter:
    """``position``: 1 for the head of the queue when the command started."""
    headers = text_headers(message.headers or {})
    stamp = message.timestamp
    if isinstance(stamp, datetime.datetime) and stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return DeadLetter(
        body=message.body,
        headers=headers,
        key=headers.get("partition_key"),
        where=f"{dlq}#{position}",
        timestamp=stamp if isinstance(stamp, datetime.datetime) else None,
    )
