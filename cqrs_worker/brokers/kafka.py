"""Publishing to Kafka: :func:`kafka_producer_factory` and :class:`KafkaMessageBroker`.

The message key is the event's partition key (UTF-8), so one key always lands
on one partition; headers are ``(str, bytes)`` pairs.

Per-key order: :meth:`KafkaMessageBroker.publish` packs the messages into
per-partition record batches in call order and hands them to the producer
(:mod:`cqrs_worker.brokers._kafka_batches`), then awaits every delivery.
aiokafka keeps at most one produce request in flight per broker connection
and retries a failed batch before sending the next, so a partition receives
its batches in order; the idempotent producer (the default here) also stops
those retries from writing a batch twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
)

from cqrs_worker.brokers._failure import describe
from cqrs_worker.brokers._kafka_batches import submit_batches
from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.errors import PublishError

if TYPE_CHECKING:
    from cqrs_worker.security import KafkaSecuritySettings

__all__ = ["KafkaMessageBroker", "kafka_producer_factory"]

logger = logging.getLogger(__name__)

Compression = Literal["gzip", "snappy", "lz4", "zstd"]


def kafka_producer_factory(
    bootstrap_servers: str | Sequence[str],
    *,
    client_id: str | None = None,
    compression_type: Compression | None = None,
    linger_ms: int = 5,
    request_timeout_ms: int = 30_000,
    enable_idempotence: bool = True,
    security: KafkaSecuritySettings | None = None,
    **extra: Any,
) -> AIOKafkaProducer:
    """An :class:`aiokafka.AIOKafkaProducer` with safe defaults, not started yet.

    ``acks="all"`` and the idempotent producer: a send counts only once every
    in-sync replica has it, and a retried batch is never written twice.
    ``linger_ms`` lets concurrent sends share one request; a delivery that is
    not confirmed within ``request_timeout_ms`` fails. ``extra`` goes to
    aiokafka as given and win over these defaults (``max_batch_size``,
    ``security_protocol``, ...).

    Call it from a coroutine: aiokafka binds the producer to the running loop.
    Pass ``enable_idempotence=False`` only for a broker that cannot grant a
    producer id (Tansu 0.6, the test broker, cannot).

    Security (TLS, SASL), first match wins:

    1. ``security=KafkaSecuritySettings(kafka_security_protocol="SASL_SSL", ...)``;
    2. aiokafka's own arguments in ``extra`` (``security_protocol``,
       ``ssl_context``, ``sasl_mechanism``, ``sasl_plain_username``, ...), used
       as given;
    3. otherwise the ``CQRS_WORKER_KAFKA_SECURITY_PROTOCOL``, ``_SASL_*`` and
       ``_SSL_*`` variables (and their ``_FILE`` twins), the worker's names,
       so a relay and a worker deployed side by side share one configuration.
       None set: plaintext.

    Bad security settings raise :class:`~cqrs_worker.errors.ConfigurationError`.
    """
    from cqrs_worker.security import (
        AIOKAFKA_SECURITY_OPTIONS,
        aiokafka_options,
        load_kafka_security,
    )

    if security is None and not AIOKAFKA_SECURITY_OPTIONS.intersection(extra):
        security = load_kafka_security()
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers,
        "client_id": client_id,
        "compression_type": compression_type,
        "linger_ms": linger_ms,
        "request_timeout_ms": request_timeout_ms,
        "acks": "all",
        "enable_idempotence": enable_idempotence,
    }
    if security is not None:
        options.update(aiokafka_options(security))
    options.update(extra)
    return AIOKafkaProducer(**options)


class KafkaMessageBroker:
    """The :class:`~cqrs_worker.brokers.MessageBroker` for Kafka, over an aiokafka producer.

    ``start_timeout`` bounds :meth:`start` (an unreachable cluster raises
    :class:`~cqrs_worker.errors.PublishError` instead of hanging);
    ``publish_timeout`` bounds one :meth:`publish` call, whatever its size.
    The broker owns the producer: :meth:`close` stops it. A broker not started
    starts on its first :meth:`publish`; a closed one refuses to publish until
    started again.

    ``producer`` may also be a function that builds one (e.g.
    ``functools.partial(kafka_producer_factory, "kafka:9092")``): aiokafka binds
    a producer to the running event loop, so a broker built at module level,
    outside any loop, builds its producer when first used.
    """

    def __init__(
        self,
        producer: AIOKafkaProducer | Callable[[], AIOKafkaProducer],
        *,
        start_timeout: float = 15.0,
        publish_timeout: float = 60.0,
    ) -> None:
        self._producer = producer if isinstance(producer, AIOKafkaProducer) else None
        self._make_producer = producer if self._producer is None else None
        if self._make_producer is not None and not callable(self._make_producer):
            raise TypeError(
                f"KafkaMessageBroker takes an AIOKafkaProducer (kafka_producer_factory(...)) "
                f"or a function returning one, not {type(producer).__qualname__}"
            )
        self._start_timeout = start_timeout
        self._publish_timeout = publish_timeout
        self._started = False
        self._closed = False
        self._starting = asyncio.Lock()
        self._partitions: dict[tuple[str, int, bytes], int] = {}

    @property
    def producer(self) -> AIOKafkaProducer:
        """The aiokafka producer (built now if the broker was given a function)."""
        if self._producer is None:
            assert self._make_producer is not None  # one of the two is set in __init__
            self._producer = self._make_producer()
        return self._producer

    async def start(self) -> None:
        try:
            async with asyncio.timeout(self._start_timeout):
                await self.producer.start()
        except (KafkaError, OSError, TimeoutError) as exc:
            await self._stop_quietly()
            tls = await self._tls_problem() if isinstance(exc, KafkaConnectionError) else None
            raise PublishError(
                f"cannot start the Kafka producer ({tls or describe(exc)}); {_hint(exc, tls)}"
            ) from exc
        self._started = True
        self._closed = False

    async def publish(self, messages: Sequence[OutgoingMessage], /) -> None:
        if not messages:
            return
        if not self._started:
            if self._closed:
                raise PublishError("the KafkaMessageBroker is closed; call start() to reopen it")
            async with self._starting:  # concurrent first publishes start it once
                if not self._started:
                    await self.start()
        try:
            async with asyncio.timeout(self._publish_timeout):
                submitted = await submit_batches(self.producer, messages, self._partitions)
                results = await asyncio.gather(
                    *(future for future, _, _ in submitted), return_exceptions=True
                )
        except (KafkaError, OSError, TimeoutError) as exc:
            raise PublishError(
                f"Kafka did not take {len(messages)} message(s) for {_topics(messages)} "
                f"({describe(exc)}); nothing was confirmed as a whole, publish them again"
            ) from exc
        failed = [
            (topic, count, result)
            for (_, topic, count), result in zip(submitted, results, strict=True)
            if isinstance(result, BaseException)
        ]
        if failed:
            first_error = failed[0][2]
            raise PublishError(
                f"Kafka did not confirm {sum(count for _, count, _ in failed)} of "
                f"{len(messages)} message(s) for {_named({topic for topic, _, _ in failed})} "
                f"({describe(first_error)}); publish them again"
            ) from first_error

    async def close(self) -> None:
        self._started = False
        self._closed = True
        if self._producer is not None:
            await self._producer.stop()
        if self._make_producer is not None:
            self._producer = None  # aiokafka cannot restart a stopped producer: build anew

    async def _tls_problem(self) -> str | None:
        """Why TLS with the first bootstrap server fails, when the producer uses TLS."""
        from cqrs_worker.security.tls import tls_failure

        client = self.producer.client
        context = getattr(client, "_ssl_context", None)  # aiokafka keeps it private
        if context is None:
            return None
        host, port, *_ = client.hosts[0]
        reason = await tls_failure(host, port, context, timeout=5.0)
        return f"TLS with {host}:{port} failed: {reason}" if reason else None

    async def _stop_quietly(self) -> None:
        try:
            await self.producer.stop()
        except Exception:  # the start failure is what the caller needs to see
            logger.debug("stopping a Kafka producer that failed to start raised", exc_info=True)


def _hint(exc: BaseException, tls: str | None = None) -> str:
    if tls is not None:
        return (
            "check CQRS_WORKER_KAFKA_SSL_CAFILE (the CA that signed the brokers' certificates) "
            "and, if the brokers require one, the client certificate (_SSL_CERTFILE, _SSL_KEYFILE)"
        )
    if isinstance(exc, KafkaConnectionError | OSError | TimeoutError):
        return "check bootstrap_servers and that the cluster is up"
    # Connected, yet refused: Tansu 0.6, for one, cannot grant the producer id
    # an idempotent producer asks for at start.
    return (
        "the cluster refused the producer; if it cannot grant producer ids, "
        "build the producer with enable_idempotence=False"
    )


def _topics(messages: Sequence[OutgoingMessage]) -> str:
    return _named({m.destination for m in messages})


def _named(topics: set[str]) -> str:
    names = sorted(topics)
    shown = ", ".join(repr(n) for n in names[:5])
    more = f" and {len(names) - 5} more" if len(names) > 5 else ""
    return f"topic {shown}{more}" if len(names) == 1 else f"topics {shown}{more}"
