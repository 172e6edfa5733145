"""What a transport's raw message says about itself, for spans: headers and messaging attributes.

A :class:`~cqrs_worker.worker.delivery.Delivery` carries the transport's own
record in ``raw``: an aiokafka ``ConsumerRecord``, the RabbitMQ source's
``RabbitRecord``, an aio-pika ``IncomingMessage`` (the FastStream adapter) or
an ``InMemoryMessage``. They are told apart by shape, once per type, so this
module imports no transport (the worker imports only the configured ones).

Attribute names follow the OpenTelemetry messaging semantic conventions as of
opentelemetry-semantic-conventions 0.66b2 (``messaging.destination.partition.id``
and ``messaging.kafka.offset``, not the deprecated ``messaging.kafka.destination.partition``
and ``messaging.kafka.message.offset``). RabbitMQ consumer destinations are
``{exchange}:{routing key}:{queue}``, empty parts left out.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["Described", "describe"]

SYSTEM = "messaging.system"
DESTINATION = "messaging.destination.name"
PARTITION = "messaging.destination.partition.id"
OFFSET = "messaging.kafka.offset"
KAFKA_KEY = "messaging.kafka.message.key"
ROUTING_KEY = "messaging.rabbitmq.destination.routing_key"
DELIVERY_TAG = "messaging.rabbitmq.message.delivery_tag"
MESSAGE_ID = "messaging.message.id"

#: (text headers, span attributes, destination for the span name)
Described = tuple[dict[str, str], dict[str, Any], str]
_Describer = Callable[[Any], Described]


def describe(raw: Any) -> Described:
    """Headers and attributes of ``raw``; never raises for an unknown shape (it gets fewer)."""
    kind = type(raw)
    describer = _BY_TYPE.get(kind)
    if describer is None:
        describer = _BY_TYPE[kind] = _describer_for(raw)
    return describer(raw)


_BY_TYPE: dict[type, _Describer] = {}


def _describer_for(raw: Any) -> _Describer:
    if all(hasattr(raw, name) for name in ("topic", "partition", "offset", "headers")):
        return _kafka
    if all(hasattr(raw, name) for name in ("queue", "message", "tag")):
        return _rabbit_record
    if all(hasattr(raw, name) for name in ("delivery_tag", "routing_key", "headers")):
        return _aio_pika
    return _other


def _text(value: Any) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode()
        except UnicodeDecodeError:
            return None
    return None


def _text_headers(headers: Any) -> dict[str, str]:
    """Text-valued headers of a mapping or of Kafka's ``(name, bytes)`` pairs."""
    pairs = headers.items() if isinstance(headers, Mapping) else (headers or ())
    found: dict[str, str] = {}
    for name, value in pairs:
        text = _text(value)
        if text is not None and isinstance(name, str):
            found[name] = text
    return found


def _kafka(raw: Any) -> Described:
    topic = str(raw.topic)
    attributes: dict[str, Any] = {
        SYSTEM: "kafka",
        DESTINATION: topic,
        PARTITION: str(raw.partition),
        OFFSET: int(raw.offset),
    }
    key = _text(raw.key)
    if key is not None:
        attributes[KAFKA_KEY] = key
    return _text_headers(raw.headers), attributes, topic


def _rabbit_destination(exchange: str, routing_key: str, queue: str | None) -> str:
    parts = [exchange, routing_key]
    if queue and queue != routing_key:
        parts.append(queue)
    return ":".join(part for part in parts if part) or "amq.default"


def _rabbit(
    headers: Any, exchange: str, routing_key: str, queue: str | None, tag: Any, message_id: Any
) -> Described:
    destination = _rabbit_destination(exchange, routing_key, queue)
    attributes: dict[str, Any] = {SYSTEM: "rabbitmq", DESTINATION: destination}
    if routing_key:
        attributes[ROUTING_KEY] = routing_key
    if isinstance(tag, int):
        attributes[DELIVERY_TAG] = tag
    if isinstance(message_id, str) and message_id:
        attributes[MESSAGE_ID] = message_id
    return _text_headers(headers), attributes, destination


def _rabbit_record(raw: Any) -> Described:
    properties = raw.message.header.properties
    return _rabbit(
        properties.headers or {},
        raw.exchange,
        raw.routing_key,
        raw.queue,
        raw.tag,
        properties.message_id,
    )


def _aio_pika(raw: Any) -> Described:
    return _rabbit(
        raw.headers or {},
        str(getattr(raw, "exchange", "") or ""),
        str(raw.routing_key or ""),
        None,
        raw.delivery_tag,
        getattr(raw, "message_id", None),
    )


def _other(raw: Any) -> Described:
    """The in-memory source's messages, and anything else with ``headers``/``topic``."""
    topic = getattr(raw, "topic", None)
    attributes: dict[str, Any] = {SYSTEM: "memory"}
    if isinstance(topic, str):
        attributes[DESTINATION] = topic
    return _text_headers(getattr(raw, "headers", None)), attributes, topic or ""
