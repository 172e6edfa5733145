"""The AsyncAPI messages of an EventMap: one per event name, its envelope as JSON Schema.

What travels is the envelope :mod:`cqrs_worker.envelope.codec` writes and
reads (python-cqrs's JSON): ``event_id``, ``event_name``, ``event_timestamp``,
``topic``, ``payload`` and, only when set, ``partition_key`` -- every field of
the event class, as ``encode_event`` dumps it. The schemas come from pydantic
(``models_json_schema``, validation mode: what the worker accepts), with what
the codec adds on top: ``event_id`` and ``event_timestamp`` must be sent
(decoding never makes them up), and ``event_name`` is fixed per message.
Shared models (one payload class in several events) become one component.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from typing import Any

from pydantic.json_schema import models_json_schema

from cqrs_worker.brokers.amqp import PARTITION_KEY_HEADER
from cqrs_worker.envelope.codec import (
    CONTENT_TYPE,
    CONTENT_TYPE_HEADER,
    EVENT_ID_HEADER,
    EVENT_NAME_HEADER,
)
from cqrs_worker.events import WireEvent

__all__ = ["REF_PREFIX", "component_key", "event_messages"]

REF_PREFIX = "#/components/schemas/"
_KEY = re.compile(r"[^A-Za-z0-9._-]")

_FIELD_DOCS = {
    "event_id": "Unique id of the event (UUID); the inbox deduplicates on it. "
    "Also sent as the event_id header.",
    "event_name": "Names the event class the message decodes into; the event_name "
    "header wins when both are present.",
    "event_timestamp": "When the event happened (ISO 8601); a timestamp without an "
    "offset is read as UTC.",
    "topic": "Where the event was published: the Kafka topic or the RabbitMQ routing key.",
    "payload": "The event's data.",
    "partition_key": "The ordering key (usually the aggregate id): the Kafka message key; "
    "left out of the body when not set.",
}
_REQUIRED = ("event_id", "event_name", "event_timestamp", "topic", "payload")


def component_key(name: str) -> str:
    """``name`` as an AsyncAPI component key (letters, digits, ``.``, ``_``, ``-``)."""
    return _KEY.sub("_", name) or "_"


def event_messages(
    names: Mapping[type[WireEvent[Any]], str], *, kafka_key: bool
) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """``(messages, schemas, message key per event name)`` for the components section.

    ``kafka_key`` adds the Kafka message binding (the key is ``partition_key``).
    """
    classes = sorted(names, key=lambda cls: names[cls])
    refs, top = models_json_schema(
        [(cls, "validation") for cls in classes], ref_template=REF_PREFIX + "{model}"
    )
    schemas: dict[str, Any] = dict(top.get("$defs", {}))
    messages: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for cls in classes:
        name = names[cls]
        ref = refs[(cls, "validation")]["$ref"]
        _envelope(schemas[ref.removeprefix(REF_PREFIX)], name)
        key = _unique(component_key(name), messages)
        keys[name] = key
        messages[key] = _message(cls, name, ref, kafka_key=kafka_key)
    return messages, schemas, keys


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}_{n}", n + 1
    return candidate


def _envelope(schema: dict[str, Any], name: str) -> None:
    """What the codec requires beyond the class: the sent fields, the fixed name."""
    properties: dict[str, Any] = schema.setdefault("properties", {})
    for field, text in _FIELD_DOCS.items():
        if field in properties:
            properties[field].setdefault("description", text)
    properties["event_name"] = {**properties.get("event_name", {}), "const": name}
    required = list(schema.get("required", []))
    schema["required"] = [*required, *(f for f in _REQUIRED if f not in required)]


def _message(cls: type[Any], name: str, ref: str, *, kafka_key: bool) -> dict[str, Any]:
    message: dict[str, Any] = {
        "name": name,
        "title": cls.__qualname__,
        "contentType": CONTENT_TYPE,
        "headers": _headers(name),
        "payload": {"$ref": ref},
        "description": (
            "The python-cqrs JSON envelope, UTF-8. The worker also accepts the camelCase "
            "keys (eventId, eventName, ...) that python-cqrs's dataclass events write."
        ),
    }
    doc = inspect.getdoc(cls)
    if doc and cls.__doc__:  # the class's own docstring, not an inherited one
        message["summary"] = doc.split("\n\n")[0].replace("\n", " ")
    if kafka_key:
        message["bindings"] = {
            "kafka": {
                "key": {
                    "type": "string",
                    "description": "The event's partition_key (UTF-8); no key when it is "
                    "not set. Messages with one key keep their order.",
                },
                "bindingVersion": "0.5.0",
            }
        }
    return message


def _headers(name: str) -> dict[str, Any]:
    """Headers our publishers send; optional (python-cqrs producers send none)."""
    return {
        "type": "object",
        "properties": {
            EVENT_NAME_HEADER: {"type": "string", "const": name},
            EVENT_ID_HEADER: {"type": "string", "format": "uuid"},
            CONTENT_TYPE_HEADER: {"type": "string", "const": CONTENT_TYPE},
            PARTITION_KEY_HEADER: {
                "type": "string",
                "description": "RabbitMQ: the event's partition_key (its ordering key)",
            },
            "traceparent": {"type": "string", "description": "W3C trace context"},
            "tracestate": {"type": "string", "description": "W3C trace context"},
        },
    }
