"""Dead-lettering to Kafka: :class:`KafkaDeadLetterSink` publishes to ``<topic><suffix>``.

The dead-letter record is the original one, byte for byte (value, key,
headers), plus the ``x-dlq-*`` headers of
:func:`~cqrs_worker.worker.dead_letter.dead_letter_headers` and where it came
from: ``x-dlq-original-topic``, ``x-dlq-original-partition``,
``x-dlq-original-offset``. Keeping the key keeps one key's failures in one
dead-letter partition, in order. An ``x-dlq-*`` header the original already
had (a message replayed from a dead-letter topic) is replaced, not repeated.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiokafka.errors import KafkaError

from cqrs_worker.brokers import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.errors import ConfigurationError, PublishError
from cqrs_worker.worker.dead_letter import PREFIX
from cqrs_worker.worker.delivery import Delivery

__all__ = ["KafkaDeadLetterSink"]

ORIGINAL_TOPIC = f"{PREFIX}original-topic"
ORIGINAL_PARTITION = f"{PREFIX}original-partition"
ORIGINAL_OFFSET = f"{PREFIX}original-offset"


class KafkaDeadLetterSink:
    """A :class:`~cqrs_worker.worker.dead_letter.DeadLetterSink` for Kafka deliveries.

    Keyword-only settings:

    * ``bootstrap`` — the cluster to publish to (usually the one consumed from).
    * ``suffix`` — the dead-letter topic is ``<original topic><suffix>``
      (``CQRS_WORKER_DLQ_SUFFIX``, default ``.dlq``). The topic must exist or
      the cluster must create topics on first use; until a publish succeeds the
      message stays uncommitted and its key waits (nothing is dropped).
    * ``enable_idempotence`` — the idempotent producer (default); turn it off
      for a broker that cannot grant producer ids (Tansu, the test broker).
    * ``producer_options`` — more :class:`aiokafka.AIOKafkaProducer` options
      (security, compression, ...).
    * ``send_timeout`` — seconds one dead-letter publish may take before it
      counts as failed (and is tried again); ``start_timeout`` bounds :meth:`start`.

    :meth:`start` connects (the :class:`~cqrs_worker.worker.kafka.KafkaSource`
    given this sink calls it) and :meth:`close` disconnects.
    """

    def __init__(
        self,
        *,
        bootstrap: str,
        suffix: str = ".dlq",
        enable_idempotence: bool = True,
        producer_options: Mapping[str, Any] | None = None,
        send_timeout: float = 30.0,
        start_timeout: float = 15.0,
    ) -> None:
        if not suffix:
            raise ConfigurationError("the dead-letter topic suffix must not be empty")
        self._bootstrap = bootstrap
        self._suffix = suffix
        self._idempotence = enable_idempotence
        self._options = dict(producer_options or {})
        self._send_timeout = send_timeout
        self._start_timeout = start_timeout
        self._broker: KafkaMessageBroker | None = None

    def topic_for(self, topic: str) -> str:
        """The dead-letter topic of ``topic``."""
        return f"{topic}{self._suffix}"

    async def start(self) -> None:
        """Connect the producer; :class:`ConfigurationError` saying what to check if it cannot."""
        if self._broker is not None:
            return
        producer = kafka_producer_factory(
            self._bootstrap, enable_idempotence=self._idempotence, **self._options
        )
        broker = KafkaMessageBroker(producer, start_timeout=self._start_timeout)
        try:
            await broker.start()
        except PublishError as exc:
            raise ConfigurationError(self._start_failure(exc)) from exc
        self._broker = broker

    def _start_failure(self, exc: PublishError) -> str:
        cause = exc.__cause__
        if self._idempotence and isinstance(cause, KafkaError) and not cause.retriable:
            # Connected, yet refused: most likely no producer id for an
            # idempotent producer (Tansu 0.6 grants none). The worker's own
            # switch is the setting, not the producer's constructor.
            return (
                f"Kafka at {self._bootstrap} refused the idempotent dead-letter producer "
                f"({type(cause).__name__}: {cause}); if the cluster cannot grant producer ids, "
                f"set CQRS_WORKER_KAFKA_IDEMPOTENCE=false (--no-kafka-idempotence)"
            )
        return f"cannot start the dead-letter producer for Kafka at {self._bootstrap}: {exc}"

    async def close(self) -> None:
        broker, self._broker = self._broker, None
        if broker is not None:
            await broker.close()

    async def send(self, delivery: Delivery, headers: Mapping[str, str], /) -> None:
        # The original bytes go out as they came in (keys and header values need
        # not be UTF-8), so this talks to the broker's producer directly rather
        # than through the text-based OutgoingMessage.
        if self._broker is None:
            raise PublishError("the Kafka dead-letter sink is not started; call start() first")
        record = delivery.raw
        ours = {
            **headers,
            ORIGINAL_TOPIC: record.topic,
            ORIGINAL_PARTITION: str(record.partition),
            ORIGINAL_OFFSET: str(record.offset),
        }
        out = [(name, value) for name, value in record.headers if name not in ours]
        out.extend((name, value.encode()) for name, value in ours.items())
        topic = self.topic_for(record.topic)
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._broker.producer.send_and_wait(
                    topic, record.value, key=record.key, headers=out
                )
        except (KafkaError, TimeoutError) as exc:
            raise PublishError(
                f"Kafka did not confirm the dead-letter record for {record.topic}"
                f"[{record.partition}]@{record.offset} on {topic!r} ({type(exc).__name__}: {exc})"
            ) from exc
