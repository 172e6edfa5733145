"""Dead-lettering to Kafka: :class:`KafkaDeadLetterSink` publishes to ``<topic><suffix>``.

The dead-letter record is the original one, byte for byte (value, key,
headers), plus the ``x-dlq-*`` headers of
:func:`~cqrs_worker.worker.dead_letter.dead_letter_headers` and where it came
from: ``x-dlq-original-topic``, ``x-dlq-original-partition``,
``x-dlq-original-offset``. Keeping the key keeps one key's failures in one
dead-letter partition, in order. An ``x-dlq-*`` header the original already
had (a message replayed from a dead-letter topic) is replaced, not repeated.
A record of a delayed retry topic (``<topic>.retry.<delay>``) goes to its
original topic's dead-letter topic, the origin headers name the original,
and its ``x-retry-*`` headers are left out (``x-dlq-retry-stages`` and
``x-dlq-attempts`` say what they did; a replay starts at the first stage).
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
from cqrs_worker.worker.retry_stages import PREFIX as RETRY_PREFIX

__all__ = ["KafkaDeadLetterSink"]

ORIGINAL_TOPIC = f"{PREFIX}original-topic"
ORIGINAL_PARTITION = f"{PREFIX}original-partition"
ORIGINAL_OFFSET = f"{PREFIX}original-offset"
RETRY_TOPIC = f"{RETRY_PREFIX}original-topic"
RETRY_PARTITION = f"{RETRY_PREFIX}original-partition"
RETRY_OFFSET = f"{RETRY_PREFIX}original-offset"
_RETRY_ORIGIN = frozenset((RETRY_TOPIC, RETRY_PARTITION, RETRY_OFFSET))


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
        record = delivery.raw
        # A record from a delayed retry topic is dead-lettered as the original
        # it is a copy of: to the original topic's dead-letter topic, naming it.
        topic, partition, offset = origin_of(record)
        ours = {
            **headers,
            ORIGINAL_TOPIC: topic,
            ORIGINAL_PARTITION: partition,
            ORIGINAL_OFFSET: offset,
        }
        # The stage headers go: the dead letter says what it needs in x-dlq-*, and
        # a replay of it to the original topic starts over at the first stage.
        await self.publish(
            self.topic_for(topic), record, ours, what="dead-letter record", drop=RETRY_PREFIX
        )

    async def publish(
        self,
        topic: str,
        record: Any,
        headers: Mapping[str, str],
        *,
        what: str,
        drop: str | None = None,
    ) -> None:
        """Publish a copy of ``record`` (value, key, headers) to ``topic`` with ``headers``
        replacing its own of those names (and without those starting with ``drop``);
        returns once Kafka confirmed it.

        The delayed retry stages publish through here too (one producer).
        """
        if self._broker is None:
            raise PublishError("the Kafka dead-letter sink is not started; call start() first")
        out = [
            (name, value)
            for name, value in record.headers
            if name not in headers and not (drop and name.startswith(drop))
        ]
        out.extend((name, value.encode()) for name, value in headers.items())
        try:
            async with asyncio.timeout(self._send_timeout):
                await self._broker.producer.send_and_wait(
                    topic, record.value, key=record.key, headers=out
                )
        except (KafkaError, TimeoutError) as exc:
            raise PublishError(
                f"Kafka did not confirm the {what} for {record.topic}"
                f"[{record.partition}]@{record.offset} on {topic!r} ({type(exc).__name__}: {exc})"
            ) from exc


def origin_of(record: Any) -> tuple[str, str, str]:
    """Topic, partition and offset of the record ``record`` was first consumed as.

    A record of a delayed retry topic names its original in
    ``x-retry-original-*`` headers; any other record is its own original.
    """
    found: dict[str, str] = {}
    for name, value in record.headers:
        if name in _RETRY_ORIGIN:
            try:
                found[name] = value.decode()
            except (UnicodeDecodeError, AttributeError):
                break
    if len(found) == len(_RETRY_ORIGIN):
        return found[RETRY_TOPIC], found[RETRY_PARTITION], found[RETRY_OFFSET]
    return record.topic, str(record.partition), str(record.offset)
