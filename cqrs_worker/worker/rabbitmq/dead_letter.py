"""Dead-lettering to RabbitMQ: :class:`RabbitDeadLetterSink` publishes to the dead-letter exchange.

RabbitMQ's own dead-lettering (``basic.reject``) cannot add headers, so the
sink publishes a copy instead: the original body, headers and properties,
plus the ``x-dlq-*`` headers of
:func:`~cqrs_worker.worker.dead_letter.dead_letter_headers` and where the
message came from (``x-dlq-original-queue``, ``-exchange``,
``-routing-key``). It goes to the dead-letter exchange with the original
queue's name as routing key (so to ``<queue>.dlq``), persistent, mandatory,
on a channel with publisher confirms. Only once RabbitMQ confirmed it does
the pipeline return, and the original is acknowledged; an unroutable or
unconfirmed publish raises, and the dead-letter middleware tries again while
the original stays unacknowledged.

The copy drops ``expiration`` (it would expire in the dead-letter queue),
``user_id`` (RabbitMQ checks it against the publishing user) and ``reply_to``.
An ``x-dlq-*`` header the original already had is replaced, not repeated;
delayed retry stage headers (``x-retry-*``) are left out.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection

from cqrs_worker.brokers._failure import describe
from cqrs_worker.errors import PublishError
from cqrs_worker.worker.dead_letter import PREFIX
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.rabbitmq.message_copy import persistent_copy
from cqrs_worker.worker.rabbitmq.record import RabbitRecord

__all__ = ["ORIGINAL_EXCHANGE", "ORIGINAL_QUEUE", "ORIGINAL_ROUTING_KEY", "RabbitDeadLetterSink"]

ORIGINAL_QUEUE = f"{PREFIX}original-queue"
ORIGINAL_EXCHANGE = f"{PREFIX}original-exchange"
ORIGINAL_ROUTING_KEY = f"{PREFIX}original-routing-key"

# The retry stages' names for the original exchange and routing key
# (:mod:`~cqrs_worker.worker.rabbitmq.retry_queues`; not imported: it imports the record too).
_RETRY_PREFIX = "x-retry-"
_RETRY_EXCHANGE = f"{_RETRY_PREFIX}original-exchange"
_RETRY_ROUTING_KEY = f"{_RETRY_PREFIX}original-routing-key"
_FAILURES = (aiormq.AMQPError, aiormq.ChannelInvalidStateError, ConnectionError, TimeoutError)


class RabbitDeadLetterSink:
    """A :class:`~cqrs_worker.worker.dead_letter.DeadLetterSink` for RabbitMQ deliveries.

    Keyword-only settings:

    * ``exchange`` — the dead-letter exchange (declared, with a dead-letter
      queue per consumed queue, by :class:`~cqrs_worker.worker.rabbitmq.RabbitSource`).
    * ``publish_timeout`` — seconds one publish may take, including waiting
      for a reconnect, before it counts as failed (and is tried again).

    :meth:`start` opens its channel on a connection (the source given this
    sink calls it with its own); :meth:`close` closes the channel.
    """

    def __init__(self, *, exchange: str, publish_timeout: float = 30.0) -> None:
        self.exchange = exchange
        self._timeout = publish_timeout
        self._channel: AbstractRobustChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def start(self, connection: AbstractRobustConnection) -> None:
        channel = connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.initialize()
        self._exchange = await channel.get_exchange(self.exchange, ensure=False)
        self._channel = channel

    async def close(self) -> None:
        channel, self._channel, self._exchange = self._channel, None, None
        if channel is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await channel.close()

    async def send(self, delivery: Delivery, headers: Mapping[str, str], /) -> None:
        channel, exchange = self._channel, self._exchange
        if channel is None or exchange is None:
            raise PublishError("the RabbitMQ dead-letter sink is not started; call start() first")
        record: RabbitRecord = delivery.raw
        message = dead_letter_message(delivery.body, record, headers)
        try:
            async with asyncio.timeout(self._timeout):
                await channel.ready()
                await exchange.publish(message, routing_key=record.queue, mandatory=True)
        except _FAILURES as exc:
            raise PublishError(
                f"RabbitMQ did not confirm the dead letter of {record.queue!r} delivery "
                f"{record.tag} on exchange {self.exchange!r} ({describe(exc)}); check that a "
                f"dead-letter queue is bound to it with routing key {record.queue!r}"
            ) from exc


def dead_letter_message(
    body: bytes, record: RabbitRecord, headers: Mapping[str, str]
) -> aio_pika.Message:
    """The copy of ``record`` that goes to the dead-letter exchange."""
    props = record.message.header.properties
    carried = props.headers or {}
    # Back from a delay queue, it arrived through the default exchange: name
    # where it was first published instead.
    ours: dict[str, Any] = {
        **headers,
        ORIGINAL_QUEUE: record.queue,
        ORIGINAL_EXCHANGE: carried.get(_RETRY_EXCHANGE, record.exchange),
        ORIGINAL_ROUTING_KEY: carried.get(_RETRY_ROUTING_KEY, record.routing_key),
    }
    # The stage headers go (x-dlq-retry-stages says which ran): a replay starts over.
    kept = {
        name: value
        for name, value in carried.items()
        if name not in ours and not name.startswith(_RETRY_PREFIX)
    }
    return persistent_copy(body, {**kept, **ours}, props)
