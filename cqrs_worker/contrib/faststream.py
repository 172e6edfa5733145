"""The worker's dispatch inside your own FastStream app: :func:`event_handler`.

For users who run their own ``KafkaBroker``/``RabbitBroker`` rather than
``cqrs-worker run``. Each message goes through the worker's pipeline: decode
(name from the ``event_name`` header, else the body), route to the EventMap's
class, run the handlers, retry with backoff, dead-letter malformed and
given-up messages with the ``x-dlq-*`` headers::

    broker = KafkaBroker("kafka:9092")
    handle = event_handler(mediator, broker=broker)
    broker.subscriber("orders", group_id="billing", ack_policy=AckPolicy.ACK,
                      auto_offset_reset="earliest")(handle)

Dead letters go, through the same broker, to ``<topic>.dlq`` (Kafka, with
``x-dlq-original-topic``/``-partition``/``-offset``) or to the exchange
``cqrs.events.dlx`` with the original routing key (RabbitMQ, with
``x-dlq-original-exchange``/``-routing-key``).

Which guarantees hold on FastStream's per-message path (FastStream 0.7):

* **Use ``AckPolicy.ACK``** (Kafka and RabbitMQ). The handler returns only
  once the message is handled or dead-lettered, and raises only when
  cancelled, which FastStream never acks. Do not use ``ACK_FIRST`` (Kafka:
  auto-commit, so a crash loses messages) nor ``NACK_ON_ERROR``.
* **Kafka commits**: a FastStream ack commits the consumed position of
  *every* assigned partition. With the default ``max_workers=1`` messages
  are handled one at a time in fetch order, so that position never passes
  unfinished work: at-least-once holds. With ``max_workers > 1`` it does
  not (a commit can cover a message still running): keep 1, or use
  ``cqrs-worker run``, which commits per partition up to the lowest
  unfinished offset.
* **Order and concurrency**: Kafka is serial per subscriber (per-partition
  order, no concurrency across keys). RabbitMQ runs up to ``prefetch_count``
  messages at once, so per-key order holds only with ``prefetch_count=1``.
* **Retries block** the subscriber (in place, like the worker); on Kafka keep
  the whole retry budget under ``max_poll_interval_ms``.
* **Shutdown**: FastStream waits ``graceful_timeout`` for in-flight handlers,
  then cancels them (not acked, redelivered). Rebalances are FastStream's:
  there is no drain-and-commit on revoke, so expect redeliveries.
* Throughput is FastStream's per-message rate (a few thousand per second);
  ``cqrs-worker run`` fetches in batches and is far faster.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from faststream import Context
from faststream.message import StreamMessage

from cqrs_worker.envelope import EVENT_NAME_HEADER, EnvelopeCodec, EventRegistry
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.middleware import Middleware
from cqrs_worker.worker.dead_letter import PREFIX, DeadLetterSink
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.pipeline import UnknownEventPolicy, build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["FastStreamDeadLetterSink", "event_handler"]

Handler = Callable[..., Awaitable[None]]


class FastStreamDeadLetterSink:
    """Publishes dead letters through a FastStream broker (Kafka or RabbitMQ).

    Kafka: to ``<topic><suffix>``, same key. RabbitMQ: to ``exchange``
    with the original routing key (declare that exchange and a queue bound
    to it). The original body and headers are kept.
    """

    def __init__(
        self, broker: Any, *, suffix: str = ".dlq", exchange: str = "cqrs.events.dlx"
    ) -> None:
        self._broker = broker
        self._suffix = suffix
        self._exchange = exchange

    async def send(self, delivery: Delivery, headers: Mapping[str, str], /) -> None:
        message: StreamMessage[Any] = delivery.context["faststream"]
        raw = message.raw_message
        original = {k: v for k, v in message.headers.items() if isinstance(v, str)}
        if hasattr(raw, "partition") and hasattr(raw, "topic"):  # an aiokafka ConsumerRecord
            origin = {
                f"{PREFIX}original-topic": raw.topic,
                f"{PREFIX}original-partition": str(raw.partition),
                f"{PREFIX}original-offset": str(raw.offset),
            }
            await self._broker.publish(
                delivery.body,
                topic=f"{raw.topic}{self._suffix}",
                key=raw.key,
                headers={**original, **headers, **origin},
            )
            return
        origin = {
            f"{PREFIX}original-exchange": str(getattr(raw, "exchange", "") or ""),
            f"{PREFIX}original-routing-key": str(getattr(raw, "routing_key", "") or ""),
        }
        await self._broker.publish(
            delivery.body,
            exchange=self._exchange,
            routing_key=origin[f"{PREFIX}original-routing-key"],
            headers={**original, **headers, **origin},
            persist=True,
        )


def event_handler(
    mediator: EventMediator,
    *,
    broker: Any = None,
    dead_letters: DeadLetterSink | None = None,
    retry: RetryPolicy | None = None,
    on_unknown_event: UnknownEventPolicy = "ack",
    max_message_bytes: int | None = 1_048_576,
    stats: WorkerStats | None = None,
    worker_id: str | None = None,
    middlewares: Sequence[Middleware] = (),
) -> Handler:
    """A FastStream subscriber function that dispatches each message to ``mediator``.

    Give ``broker`` (dead letters are published through it) or your own
    ``dead_letters`` sink. ``stats`` counts what happened (pass one to read
    it). Register the result with ``broker.subscriber(...)(handler)``.
    """
    if dead_letters is None:
        if broker is None:
            raise TypeError(
                "event_handler() needs broker= (to dead-letter through) or dead_letters="
            )
        dead_letters = FastStreamDeadLetterSink(broker)
    registry = EventRegistry.from_event_map(mediator.event_map)
    pipeline = build_pipeline(
        mediator=mediator,
        codec=EnvelopeCodec(registry, max_size=max_message_bytes),
        dead_letters=dead_letters,
        retry=retry or RetryPolicy(),
        stats=stats if stats is not None else WorkerStats(),
        worker_id=worker_id or f"{socket.gethostname()}-{os.getpid()}",
        on_unknown_event=on_unknown_event,
        middlewares=middlewares,
    )

    async def handle(message: StreamMessage[Any] = Context("message")) -> None:  # noqa: B008 - FastStream's injection idiom
        name = message.headers.get(EVENT_NAME_HEADER)
        delivery = Delivery(
            body=message.body,
            event_name=name if isinstance(name, str) else None,
            lane=None,
            raw=message.raw_message,
            context={"faststream": message},
        )
        await pipeline(delivery)

    return handle
