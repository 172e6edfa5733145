"""Which message a log line is about: the delivery context and :class:`LogContextFilter`.

The pipeline binds the :class:`~cqrs_worker.worker.delivery.Delivery` it is
handling (and the worker id) to a context variable for the duration of the
handling, with :func:`bind` / :func:`unbind`. Binding stores the delivery
itself, nothing derived from it, so the hot path pays one ``ContextVar.set``
and one ``reset`` per delivery; the fields are worked out only for records
that are actually emitted, by :class:`LogContextFilter`. Every task started
while a delivery is bound (a handler's own tasks) inherits it.

The fields set on a record, when a delivery is bound:

* ``event_id``, ``event_name`` — from the decoded event; before decoding (or
  when the body did not decode) the name comes from the ``event_name`` header
  and the id is ``None``;
* Kafka: ``topic``, ``partition``, ``offset``, ``key``;
  RabbitMQ: ``queue``, ``routing_key``, ``delivery_tag``, ``key`` (the
  ``partition_key`` header);
* ``attempt`` — the handling attempts made so far (0 while decoding);
* ``worker_id``.

A field the call already passed with ``extra=`` is left as given. The CLI
installs the filter on its log handler; an application that configures
logging itself adds it to its own handler (a handler filter, not a logger
one, so records of every logger pass through it)::

    handler.addFilter(LogContextFilter())
"""

from __future__ import annotations

import logging
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the worker imports this module, not the other way round
    from cqrs_worker.worker.delivery import Delivery

__all__ = ["FIELDS", "LogContextFilter", "bind", "current", "delivery_fields", "rebind", "unbind"]

#: The context fields, in the order the text format shows them.
FIELDS = (
    "event_id",
    "event_name",
    "topic",
    "queue",
    "partition",
    "offset",
    "routing_key",
    "delivery_tag",
    "key",
    "attempt",
    "worker_id",
)

_PARTITION_KEY_HEADER = "partition_key"

Scope = tuple["Delivery | None", str]
_current: ContextVar[Scope | None] = ContextVar("cqrs_worker_delivery", default=None)


def bind(delivery: Delivery, worker_id: str) -> Token[Scope | None]:
    """Make ``delivery`` the one this task's log lines are about; :func:`unbind` the token after."""
    return _current.set((delivery, worker_id))


def unbind(token: Token[Scope | None]) -> None:
    """Restore what was bound before the matching :func:`bind` or :func:`rebind`."""
    _current.reset(token)


def rebind(delivery: Delivery | None) -> Token[Scope | None]:
    """Switch to another delivery (or to none) under the same worker id.

    For code that works through several deliveries in one task, such as the
    inbox's batches.
    """
    scope = _current.get()
    return _current.set((delivery, scope[1] if scope is not None else ""))


def current() -> Delivery | None:
    """The delivery bound in this task, if any."""
    scope = _current.get()
    return scope[0] if scope is not None else None


def delivery_fields(delivery: Delivery | None, worker_id: str) -> dict[str, Any]:
    """The log fields of ``delivery`` (see the module docstring)."""
    fields: dict[str, Any] = {}
    if delivery is not None:
        event = delivery.event
        fields["event_id"] = str(event.event_id) if event is not None else None
        fields["event_name"] = delivery.name
        fields.update(_origin(delivery.raw))
        fields["attempt"] = delivery.attempts
    if worker_id:
        fields["worker_id"] = worker_id
    return fields


def _origin(raw: Any) -> dict[str, Any]:
    """Where the message came from, read off the transport's record by duck typing.

    Duck typing keeps this module free of the transports' imports: a Kafka
    ``ConsumerRecord`` and the in-memory message have a ``topic``, the
    RabbitMQ source's record a ``queue``, FastStream's aio-pika message a
    ``routing_key``.
    """
    if hasattr(raw, "topic"):
        return {
            "topic": raw.topic,
            "partition": getattr(raw, "partition", None),
            "offset": getattr(raw, "offset", None),
            "key": _text(getattr(raw, "key", None)),
        }
    if hasattr(raw, "queue") and hasattr(raw, "message"):
        headers = raw.message.header.properties.headers or {}
        return {
            "queue": raw.queue,
            "routing_key": raw.routing_key,
            "delivery_tag": raw.tag,
            "key": _text(headers.get(_PARTITION_KEY_HEADER)),
        }
    if hasattr(raw, "routing_key"):
        headers = getattr(raw, "headers", None) or {}
        return {
            "routing_key": raw.routing_key,
            "delivery_tag": getattr(raw, "delivery_tag", None),
            "key": _text(headers.get(_PARTITION_KEY_HEADER)),
        }
    return {}


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


class LogContextFilter(logging.Filter):
    """Copies the bound delivery's fields onto each record; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        scope = _current.get()
        if scope is not None:
            attributes = record.__dict__
            for name, value in delivery_fields(*scope).items():
                attributes.setdefault(name, value)
        return True
