"""Publishing to RabbitMQ: :class:`AMQPMessageBroker`, on aio-pika.

Routing: every message goes to one exchange (declared once, in
:meth:`~AMQPMessageBroker.start`; a robust connection re-declares it after a
reconnect). The routing key is the message's ``destination``, which
:class:`~cqrs_worker.brokers.BrokerEventEmitter` and the outbox set to the
event's ``topic``, so bind queues with the topic (or a pattern on it, with the
default topic exchange). Pass ``routing="event_name"`` to use the event name
(the ``event_name`` header) as the routing key instead, and bind queues by
event name.

Queues: ``bind_queues`` names durable queues declared at start and bound to
the exchange with ``#`` (every message), declared as the worker declares its
queues (dead-lettering to ``<exchange>.dlx``), so a worker can consume them.

Lifecycle: :meth:`~AMQPMessageBroker.start` connects; a broker not started
connects on its first :meth:`~AMQPMessageBroker.publish`; a closed one
refuses to publish until started again. :meth:`close` is always the owner's job.

Delivery: messages are persistent, published with ``mandatory=True`` on a
channel with publisher confirms. :meth:`~AMQPMessageBroker.publish` returns
once RabbitMQ confirmed every message; a message no queue is bound for comes
back (``NO_ROUTE``) and, like a nack, a lost connection or a timeout, raises
:class:`~cqrs_worker.errors.PublishError` instead of vanishing.

The AMQP ``message_id`` is the event id (the ``event_id`` header) and ``type``
the event name. A message's ``key`` (the event's partition key) travels in the
:data:`PARTITION_KEY_HEADER` header, which the worker's RabbitMQ source orders
deliveries by. aio-pika matches a returned message to its publish by
``message_id``, so publishing one event id twice at the same time on one
broker could pin a return on the wrong one of the two.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import aio_pika
import aio_pika.abc
import aiormq
from aio_pika.connection import make_url

from cqrs_worker.brokers._failure import describe
from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.envelope import CONTENT_TYPE_HEADER, EVENT_ID_HEADER, EVENT_NAME_HEADER
from cqrs_worker.errors import ConfigurationError, PublishError

if TYPE_CHECKING:
    from cqrs_worker.security import RabbitMQTLSSettings

__all__ = ["PARTITION_KEY_HEADER", "AMQPMessageBroker"]

#: The header carrying the partition key (AMQP has no message key of its own).
PARTITION_KEY_HEADER = "partition_key"

Routing = Literal["topic", "event_name"]
_CONNECTION_ERRORS = (aiormq.exceptions.AMQPError, OSError, TimeoutError)


class AMQPMessageBroker:
    """The :class:`~cqrs_worker.brokers.MessageBroker` for RabbitMQ (AMQP 0-9-1).

    ``exchange`` is declared durable with ``exchange_type`` (an existing
    exchange of another type is an error at start); ``""`` publishes to the
    default exchange, which routes to the queue named by the routing key.
    ``connect_timeout`` bounds :meth:`start`; ``publish_timeout`` bounds one
    :meth:`publish` call, including waiting for the robust connection to
    reconnect after an outage (a publish during a short outage waits, then
    goes out; a longer one fails).

    TLS: an ``amqps://`` URL. The CA file and client certificate come from
    ``security=RabbitMQTLSSettings(rabbitmq_ssl_cafile=..., ...)``, else from
    the ``CQRS_WORKER_RABBITMQ_SSL_CAFILE``/``_CERTFILE``/``_KEYFILE``
    variables (the worker's names); neither: the system's CAs. The files are
    read here, so a bad one is a :class:`~cqrs_worker.errors.ConfigurationError`
    at construction.
    """

    def __init__(
        self,
        url: str,
        *,
        exchange: str = "cqrs.events",
        exchange_type: str = "topic",
        routing: Routing = "topic",
        connect_timeout: float = 10.0,
        publish_timeout: float = 30.0,
        security: RabbitMQTLSSettings | None = None,
        bind_queues: Sequence[str] = (),
    ) -> None:
        from cqrs_worker.security import amqp_ssl_context, load_rabbitmq_tls

        self.url = url
        self.exchange_name = exchange
        if isinstance(bind_queues, str):
            raise ConfigurationError(f"bind_queues takes a list of queue names: [{bind_queues!r}]")
        if bind_queues and not exchange:
            raise ConfigurationError(
                "bind_queues needs a named exchange; the default exchange routes by queue name"
            )
        self.bind_queues = tuple(bind_queues)
        self._starting = asyncio.Lock()
        self._closed = False
        try:
            self.exchange_type = aio_pika.ExchangeType(exchange_type)
        except ValueError:
            known = ", ".join(repr(t.value) for t in aio_pika.ExchangeType)
            raise ConfigurationError(
                f"exchange_type {exchange_type!r} is not an AMQP exchange type; use one of {known}"
            ) from None
        if routing not in ("topic", "event_name"):
            raise ConfigurationError(f"routing must be 'topic' or 'event_name', not {routing!r}")
        self.routing = routing
        self._connect_timeout = connect_timeout
        self._publish_timeout = publish_timeout
        if security is None and url.lower().startswith("amqps:"):
            security = load_rabbitmq_tls()
        self._ssl_context = amqp_ssl_context(url, security) if security is not None else None
        self._connection: aio_pika.abc.AbstractRobustConnection | None = None
        self._channel: aio_pika.abc.AbstractRobustChannel | None = None
        self._exchange: aio_pika.abc.AbstractExchange | None = None

    async def start(self) -> None:
        self._closed = False
        try:
            # Built here rather than by connect_robust() so that a connect that
            # times out can still be closed (its reconnect task stopped).
            self._connection = aio_pika.RobustConnection(
                make_url(self.url), ssl_context=self._ssl_context
            )
            async with asyncio.timeout(self._connect_timeout):
                await self._connection.connect(timeout=self._connect_timeout)
                channel = self._connection.channel(publisher_confirms=True, on_return_raises=True)
                await channel.initialize()
                self._exchange = await self._declare(channel)
                self._channel = channel
        except _CONNECTION_ERRORS as exc:
            await self.close()
            self._closed = False  # not closed by its owner: the next publish tries again
            raise PublishError(
                f"cannot start publishing to RabbitMQ exchange {self.exchange_name!r} "
                f"({describe(exc)}); check the URL, that RabbitMQ is up, and that an "
                f"existing exchange of that name has type {self.exchange_type.value!r}"
            ) from exc

    async def publish(self, messages: Sequence[OutgoingMessage], /) -> None:
        if not messages:
            return
        if self._exchange is None or self._channel is None:
            if self._closed:
                raise PublishError("the AMQPMessageBroker is closed; call start() to reopen it")
            async with self._starting:  # concurrent first publishes connect once
                if self._exchange is None:
                    await self.start()
        channel, exchange = self._channel, self._exchange
        if channel is None or exchange is None:  # closed while we waited to connect
            raise PublishError("the AMQPMessageBroker was closed; publish them again")
        routed = [(self._routing_key(m), _amqp_message(m)) for m in messages]
        try:
            async with asyncio.timeout(self._publish_timeout):
                await channel.ready()  # after a connection loss: reconnected and restored
                # All publishes start in order (aio-pika frames them under one
                # FIFO lock, so per-key order holds), then every confirm is awaited.
                results = await asyncio.gather(
                    *(exchange.publish(msg, key, mandatory=True) for key, msg in routed),
                    return_exceptions=True,
                )
        except TimeoutError as exc:
            raise PublishError(
                f"RabbitMQ did not confirm {len(messages)} message(s) to exchange "
                f"{self.exchange_name!r} within {self._publish_timeout}s; publish them again"
            ) from exc
        failed = [
            (key, result)
            for (key, _), result in zip(routed, results, strict=True)
            if isinstance(result, BaseException)
        ]
        if failed:
            first_key, first_error = failed[0]
            raise PublishError(
                f"RabbitMQ did not confirm {len(failed)} of {len(messages)} message(s) to "
                f"exchange {self.exchange_name!r} (first: routing key {first_key!r}, "
                f"{describe(first_error)}); bind a queue for that routing key if it was "
                f"returned, then publish them again"
            ) from first_error

    async def close(self) -> None:
        self._closed = True
        connection, self._connection = self._connection, None
        self._channel = self._exchange = None
        if connection is not None:
            await connection.close()

    async def _declare(
        self, channel: aio_pika.abc.AbstractChannel
    ) -> aio_pika.abc.AbstractExchange:
        if not self.exchange_name:
            return channel.default_exchange
        exchange = await channel.declare_exchange(
            self.exchange_name, self.exchange_type, durable=True
        )
        for name in self.bind_queues:
            # The worker's own declaration (worker/rabbitmq/topology.py): the same
            # arguments, or RabbitMQ refuses whichever of the two declares second.
            queue = await channel.declare_queue(
                name,
                durable=True,
                arguments={
                    "x-dead-letter-exchange": f"{self.exchange_name}.dlx",
                    "x-dead-letter-routing-key": name,
                },
            )
            await queue.bind(exchange, routing_key="#")
        return exchange

    def _routing_key(self, message: OutgoingMessage) -> str:
        if self.routing == "topic":
            return message.destination
        name = message.headers.get(EVENT_NAME_HEADER)
        if name is None:
            raise PublishError(
                f"a message for {message.destination!r} has no {EVENT_NAME_HEADER!r} header, "
                f"so routing='event_name' has no routing key; build it with "
                f"OutgoingMessage.from_event()"
            )
        return name


def _amqp_message(message: OutgoingMessage) -> aio_pika.Message:
    headers = message.headers
    amqp_headers: aio_pika.abc.HeadersType = dict(headers)
    if message.key is not None:
        amqp_headers[PARTITION_KEY_HEADER] = message.key
    return aio_pika.Message(
        message.body,
        headers=amqp_headers,
        content_type=headers.get(CONTENT_TYPE_HEADER),
        message_id=headers.get(EVENT_ID_HEADER),
        type=headers.get(EVENT_NAME_HEADER),
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
    )
