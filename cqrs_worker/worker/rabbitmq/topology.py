"""Connecting through FastStream and declaring what the worker consumes: :func:`connect`.

FastStream's :class:`~faststream.rabbit.RabbitBroker` owns the (robust)
connection and declares, durably:

* the events exchange (``topic`` type) the publishers send to;
* per queue: the queue, with ``x-dead-letter-exchange`` (and
  ``x-dead-letter-routing-key`` = the queue's name, so messages RabbitMQ
  itself dead-letters, e.g. expired ones, land beside ours), bound with its
  routing keys;
* the dead-letter exchange (``direct``) and, per queue, the dead-letter
  queue ``<queue><dlq_suffix>`` bound to it with the queue's name;
* with delayed retry stages, per queue and stage the delay queue
  ``<queue>.retry.<delay>`` (:mod:`~cqrs_worker.worker.rabbitmq.retry_queues`).

The declarations are restored by aio-pika after a reconnect. An existing
queue or exchange declared with other arguments or type is an error at
start-up (RabbitMQ refuses inequivalent redeclarations), named in the message.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Sequence
from typing import TypeVar

import aiormq
from aio_pika.abc import AbstractRobustConnection
from faststream.rabbit import ExchangeType, RabbitBroker, RabbitExchange, RabbitQueue

from cqrs_worker.brokers._failure import describe
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.security import redact_url as redact
from cqrs_worker.worker.rabbitmq.queues import QueueSpec
from cqrs_worker.worker.rabbitmq.retry_queues import delay_queue, delay_queue_arguments
from cqrs_worker.worker.retry_stages import RetryStage

__all__ = ["connect", "step", "stop_quietly"]

_T = TypeVar("_T")
_URL_HINT = (
    "check the URL (CQRS_WORKER_RABBITMQ_URL: amqp://user:password@host:5672/vhost), "
    "that RabbitMQ is up and reachable from here"
)


async def connect(
    *,
    url: str,
    exchange: str,
    dead_letter_exchange: str,
    queues: Sequence[QueueSpec],
    dlq_suffix: str,
    timeout: float,
    reconnect_interval: float,
    ssl_context: ssl.SSLContext | None = None,
    retry_stages: Sequence[RetryStage] = (),
) -> tuple[RabbitBroker, AbstractRobustConnection]:
    """Connect and declare within ``timeout`` seconds; :class:`ConfigurationError` if not.

    ``ssl_context`` (for ``amqps://`` URLs) goes to aio-pika through FastStream's
    security object.
    """
    from faststream.security import BaseSecurity

    broker = RabbitBroker(
        url,
        timeout=timeout,
        reconnect_interval=reconnect_interval,
        fail_fast=True,
        logger=None,
        security=BaseSecurity(ssl_context=ssl_context) if ssl_context is not None else None,
    )
    where = redact(url)
    try:
        async with asyncio.timeout(timeout):
            connection = await step(broker.connect(), f"connect to RabbitMQ at {where}")
            await _declare(broker, exchange, dead_letter_exchange, queues, dlq_suffix)
            await _declare_delays(broker, queues, retry_stages)
    except BaseException as exc:
        await stop_quietly(broker)
        if isinstance(exc, TimeoutError):
            raise ConfigurationError(
                f"RabbitMQ at {where} did not answer within {timeout:.0f}s; {_URL_HINT}"
            ) from exc
        raise
    return broker, connection


async def stop_quietly(broker: RabbitBroker) -> None:
    with contextlib.suppress(Exception):
        async with asyncio.timeout(5.0):
            await broker.stop()


async def _declare(
    broker: RabbitBroker,
    exchange: str,
    dead_letter_exchange: str,
    queues: Sequence[QueueSpec],
    dlq_suffix: str,
) -> None:
    events = await step(
        broker.declare_exchange(RabbitExchange(exchange, type=ExchangeType.TOPIC, durable=True)),
        f"declare the topic exchange {exchange!r}",
    )
    dead = await step(
        broker.declare_exchange(
            RabbitExchange(dead_letter_exchange, type=ExchangeType.DIRECT, durable=True)
        ),
        f"declare the dead-letter exchange {dead_letter_exchange!r} (type direct)",
    )
    for spec in queues:
        declared = RabbitQueue(
            spec.name,
            durable=True,
            arguments={
                "x-dead-letter-exchange": dead_letter_exchange,
                "x-dead-letter-routing-key": spec.name,
            },
        )
        queue = await step(
            broker.declare_queue(declared),
            f"declare the queue {spec.name!r} (durable, dead-lettering to "
            f"{dead_letter_exchange!r})",
        )
        for key in spec.routing_keys:
            await step(queue.bind(events, routing_key=key), f"bind {spec.name!r} to {key!r}")
        dlq_name = f"{spec.name}{dlq_suffix}"
        dlq = await step(
            broker.declare_queue(RabbitQueue(dlq_name, durable=True)),
            f"declare the dead-letter queue {dlq_name!r}",
        )
        await step(dlq.bind(dead, routing_key=spec.name), f"bind {dlq_name!r}")


async def _declare_delays(
    broker: RabbitBroker, queues: Sequence[QueueSpec], stages: Sequence[RetryStage]
) -> None:
    for spec in queues:
        for stage in stages:
            name = delay_queue(spec.name, stage)
            await step(
                broker.declare_queue(
                    RabbitQueue(
                        name, durable=True, arguments=delay_queue_arguments(spec.name, stage)
                    )
                ),
                f"declare the delay queue {name!r} (x-message-ttl, dead-lettering back to "
                f"{spec.name!r})",
            )


async def step(action: Awaitable[_T], what: str) -> _T:
    """``await action``, turning a refusal into a :class:`ConfigurationError` saying what to fix."""
    try:
        return await action
    except aiormq.exceptions.ChannelPreconditionFailed as exc:
        raise ConfigurationError(
            f"cannot {what}: it exists with other settings ({describe(exc)}); delete it or "
            f"make its type and arguments match (durable, x-dead-letter-exchange, "
            f"x-dead-letter-routing-key), or consume other queues (CQRS_WORKER_QUEUES)"
        ) from exc
    except aiormq.exceptions.ChannelAccessRefused as exc:
        raise ConfigurationError(
            f"cannot {what}: access refused ({describe(exc)}); grant the user configure, "
            f"write and read permissions on the vhost for these names, and check that no "
            f"other client consumes the queue exclusively"
        ) from exc
    except aiormq.exceptions.ProbableAuthenticationError as exc:
        raise ConfigurationError(
            f"cannot {what}: the login was refused ({describe(exc)}); check the user and "
            f"password in CQRS_WORKER_RABBITMQ_URL"
        ) from exc
    except aiormq.exceptions.ConnectionNotAllowed as exc:
        raise ConfigurationError(
            f"cannot {what}: the virtual host refused the connection ({describe(exc)}); check "
            f"the vhost in CQRS_WORKER_RABBITMQ_URL and the user's access to it"
        ) from exc
    except (aiormq.exceptions.AMQPError, OSError) as exc:
        raise ConfigurationError(f"cannot {what} ({describe(exc)}); {_URL_HINT}") from exc
