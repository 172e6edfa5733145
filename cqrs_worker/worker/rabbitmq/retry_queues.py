"""Delayed retry stages on RabbitMQ: delay queues and :class:`RabbitRetrySink`.

Each consumed queue gets one delay queue per stage, ``<queue>.retry.<delay>``,
declared with ``x-message-ttl`` (the stage's delay) and dead-lettering to
the default exchange with the queue's name as routing key: RabbitMQ itself
moves an expired message back to the queue it came from. Nobody consumes a
delay queue, and all its messages share one TTL, so they expire in order.

The sink publishes a copy of the delivery (body, headers, properties) to its
delay queue through the default exchange, persistent, mandatory, on a
channel with publisher confirms, with the stage's ``x-retry-*`` headers and
where the message first came from (``x-retry-original-exchange``,
``-routing-key``; kept through later stages, and named by the dead letter).
RabbitMQ's own ``x-death`` bookkeeping is not copied: the stage headers count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractRobustChannel, AbstractRobustConnection
from faststream.rabbit.schemas.queue import ClassicQueueArgs

from cqrs_worker.brokers._failure import describe
from cqrs_worker.errors import PublishError
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.rabbitmq.message_copy import persistent_copy
from cqrs_worker.worker.rabbitmq.record import RabbitRecord
from cqrs_worker.worker.retry_stages import PREFIX, RetryStage

__all__ = [
    "RETRY_EXCHANGE",
    "RETRY_ROUTING_KEY",
    "RabbitRetrySink",
    "delay_queue",
    "delay_queue_arguments",
]

RETRY_EXCHANGE = f"{PREFIX}original-exchange"
RETRY_ROUTING_KEY = f"{PREFIX}original-routing-key"
_FAILURES = (aiormq.AMQPError, aiormq.ChannelInvalidStateError, ConnectionError, TimeoutError)
_DEATH = ("x-death", "x-first-death-", "x-last-death-")


def delay_queue(queue: str, stage: RetryStage) -> str:
    """The delay queue of ``stage`` for ``queue``: ``shop.orders.retry.5s``."""
    return f"{queue}.retry.{stage.label}"


def delay_queue_arguments(queue: str, stage: RetryStage) -> ClassicQueueArgs:
    """Expire after the stage's delay, back to ``queue`` through the default exchange."""
    return {
        "x-message-ttl": max(1, round(stage.delay * 1000)),
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": queue,
    }


class RabbitRetrySink:
    """A :class:`~cqrs_worker.worker.delayed_retry.RetryStageSink` for RabbitMQ deliveries.

    :meth:`start` opens its channel on the source's connection;
    :meth:`close` closes it. ``publish_timeout`` bounds one publish,
    reconnect included, before it counts as failed (and is tried again).
    """

    def __init__(self, *, publish_timeout: float = 30.0) -> None:
        self._timeout = publish_timeout
        self._channel: AbstractRobustChannel | None = None

    async def start(self, connection: AbstractRobustConnection) -> None:
        channel = connection.channel(publisher_confirms=True, on_return_raises=True)
        await channel.initialize()
        self._channel = channel

    async def close(self) -> None:
        channel, self._channel = self._channel, None
        if channel is not None:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await channel.close()

    def carried(self, delivery: Delivery, /) -> Mapping[str, str]:
        headers = delivery.raw.message.header.properties.headers or {}
        return {
            name: value.decode() if isinstance(value, bytes) else str(value)
            for name, value in headers.items()
            if name.startswith(PREFIX)
        }

    async def send(
        self, delivery: Delivery, stage: RetryStage, headers: Mapping[str, str], /
    ) -> None:
        channel = self._channel
        if channel is None:
            raise PublishError("the RabbitMQ retry sink is not started; call start() first")
        record: RabbitRecord = delivery.raw
        target = delay_queue(record.queue, stage)
        message = _stage_message(delivery.body, record, headers)
        try:
            async with asyncio.timeout(self._timeout):
                await channel.ready()
                await channel.default_exchange.publish(message, routing_key=target, mandatory=True)
        except _FAILURES as exc:
            raise PublishError(
                f"RabbitMQ did not confirm retry stage {stage.number} of {record.queue!r} "
                f"delivery {record.tag} ({describe(exc)}); check that the delay queue "
                f"{target!r} exists (the worker declares it at start-up)"
            ) from exc


def _stage_message(
    body: bytes, record: RabbitRecord, headers: Mapping[str, str]
) -> aio_pika.Message:
    props = record.message.header.properties
    previous = dict(props.headers or {})
    ours: dict[str, Any] = {
        RETRY_EXCHANGE: previous.get(RETRY_EXCHANGE, record.exchange),
        RETRY_ROUTING_KEY: previous.get(RETRY_ROUTING_KEY, record.routing_key),
        **headers,
    }
    kept = {
        name: value
        for name, value in previous.items()
        if name not in ours and not name.startswith(_DEATH)
    }
    return persistent_copy(body, {**kept, **ours}, props)
