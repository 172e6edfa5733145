"""The relay's PRODUCER spans: :class:`TracingBroker`, one span per published message.

The outbox stores the ``traceparent`` that was current when the event was
written (the request, or the worker's consumer span). For each message of a
batch the relay starts a span named ``send <topic>`` (Kafka) or
``publish <exchange>:<routing key>`` (RabbitMQ), kind PRODUCER, whose
**parent is that stored context**, and replaces the message's trace headers
with the span's own context, so the consumer's span is the child of the
publish. One span per message rather than one per batch with links: the trace
of each event stays one unbroken chain. The spans end when the broker
confirmed (or failed: status ERROR, the exception recorded) the whole batch.

Tracing failures are logged and the batch is published as it was.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from cqrs_worker.brokers.message import OutgoingMessage
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.envelope.codec import EVENT_ID_HEADER, EVENT_NAME_HEADER
from cqrs_worker.observability._raw_messages import (
    DESTINATION,
    KAFKA_KEY,
    MESSAGE_ID,
    ROUTING_KEY,
    SYSTEM,
)
from cqrs_worker.observability.tracing import extract_context, inject_context

__all__ = ["TracingBroker"]

logger = logging.getLogger(__name__)

_TRACE_HEADERS = ("traceparent", "tracestate")


class TracingBroker:
    """A :class:`~cqrs_worker.brokers.MessageBroker` that traces each message it publishes.

    Everything but :meth:`publish` goes to the wrapped ``broker`` (also
    attributes this class does not define).
    """

    def __init__(self, broker: MessageBroker, tracer: Tracer) -> None:
        self.broker = broker
        self._tracer = tracer
        self._system, self._operation = _system_of(broker)
        self._warned = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.broker, name)

    async def start(self) -> None:
        await self.broker.start()

    async def close(self) -> None:
        await self.broker.close()

    async def publish(self, messages: Sequence[OutgoingMessage], /) -> None:
        spans: list[Span] = []
        try:
            traced = [self._traced(message, spans) for message in messages]
        except Exception as exc:
            self._failed("starting producer spans", exc)
            _end_all(spans)
            spans, traced = [], list(messages)
        try:
            await self.broker.publish(traced)
        except BaseException as exc:
            self._end(spans, exc)
            raise
        self._end(spans, None)

    def _traced(self, message: OutgoingMessage, spans: list[Span]) -> OutgoingMessage:
        headers = dict(message.headers)
        parent = extract_context(headers)
        destination = self._destination(message)
        attributes: dict[str, Any] = {
            SYSTEM: self._system,
            DESTINATION: destination,
            "messaging.operation.type": "send",
            "messaging.operation.name": self._operation,
            "messaging.message.body.size": len(message.body),
        }
        if message.key is not None and self._system == "kafka":
            attributes[KAFKA_KEY] = message.key
        if self._system == "rabbitmq" and message.destination:
            attributes[ROUTING_KEY] = self._routing_key(message)
        if event_id := headers.get(EVENT_ID_HEADER):
            attributes[MESSAGE_ID] = event_id
        if event_name := headers.get(EVENT_NAME_HEADER):
            attributes["cqrs_worker.event_name"] = event_name
        span = self._tracer.start_span(
            f"{self._operation} {destination}",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes=attributes,
        )
        spans.append(span)
        for name in _TRACE_HEADERS:  # the row's context is the parent, not the message's
            headers.pop(name, None)
        inject_context(headers, trace.set_span_in_context(span, parent))
        return dataclasses.replace(message, headers=headers)

    def _destination(self, message: OutgoingMessage) -> str:
        if self._system != "rabbitmq":
            return message.destination
        exchange = str(getattr(self.broker, "exchange_name", "") or "")
        parts = [part for part in (exchange, self._routing_key(message)) if part]
        return ":".join(parts) or "amq.default"

    def _routing_key(self, message: OutgoingMessage) -> str:
        if getattr(self.broker, "routing", "topic") == "event_name":
            return message.headers.get(EVENT_NAME_HEADER, "")
        return message.destination

    def _end(self, spans: list[Span], error: BaseException | None) -> None:
        try:
            for span in spans:
                if error is not None:
                    span.record_exception(error)
                    span.set_attribute("error.type", type(error).__qualname__)
                    span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
                span.end()
        except Exception as exc:
            self._failed("ending producer spans", exc)

    def _failed(self, doing: str, error: Exception) -> None:
        # Once loud, then quiet: a broken exporter must not flood the log.
        log = logger.debug if self._warned else logger.warning
        self._warned = True
        log("tracing failed while %s; publishing goes on", doing, exc_info=error)


def _end_all(spans: list[Span]) -> None:
    for span in spans:
        try:
            span.end()
        except Exception:
            logger.debug("ending a producer span failed", exc_info=True)


def _system_of(broker: MessageBroker) -> tuple[str, str]:
    """``messaging.system`` and the operation name, by the broker's class name.

    Named, not imported: tracing must not import aio-pika or aiokafka.
    """
    kind = type(broker).__name__
    if kind == "KafkaMessageBroker":
        return "kafka", "send"
    if kind == "AMQPMessageBroker":
        return "rabbitmq", "publish"
    return "memory" if kind == "InMemoryBroker" else kind.lower(), "send"
