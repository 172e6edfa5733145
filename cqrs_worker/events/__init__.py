"""Events: what happened, as pydantic v2 models.

* :class:`DomainEvent` stays in this process; handlers bound in the
  :class:`~cqrs_worker.EventMap` run when a request handler emits one.
* :class:`NotificationEvent` tells other services that something happened;
  :class:`ECSTEvent` (event-carried state transfer) carries the new state
  itself. Both travel over a broker in the envelope defined in
  :mod:`cqrs_worker.envelope`.

A broker event names itself by ``event_name`` and its destination by ``topic``;
give both a default in the subclass so the class alone says where it goes::

    class UserJoined(NotificationEvent[UserJoinedPayload]):
        event_name: str = "UserJoined"
        topic: str = "users"

``partition_key`` (usually the aggregate id) becomes the Kafka message key, so
events with the same key keep their order through the broker and the worker.
An event without a ``topic`` goes to :func:`default_topic`
(``CQRS_WORKER_DEFAULT_TOPIC``, else ``output_topic``, as python-cqrs).

Unknown fields are an error (a misspelt field would otherwise vanish); a
class that wants them sets ``model_config = ConfigDict(extra="allow")``.
Decoding from a broker is tolerant instead: :class:`~cqrs_worker.EnvelopeCodec`
drops envelope fields the class does not know, so a producer may add fields
before its consumers know them.

``EventMap``, ``EventEmitter`` and ``bootstrap`` are also reachable here, for
code written against python-cqrs (``from cqrs.events import EventMap,
EventEmitter``); ``EventEmitter`` here is python-cqrs's constructor shape
(:func:`cqrs_worker.compat.EventEmitter`), ours is the protocol
:class:`cqrs_worker.EventEmitter`.
"""

from __future__ import annotations

import datetime
import os
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import pydantic

if TYPE_CHECKING:
    from cqrs_worker.compat.mediators import EventEmitter
    from cqrs_worker.maps import EventMap

__all__ = [
    "DomainEvent",
    "ECSTEvent",
    "Event",
    "EventEmitter",
    "EventHandler",
    "EventMap",
    "NotificationEvent",
    "PayloadT",
    "WireEvent",
    "default_topic",
]

#: Where a broker event without a ``topic`` goes, unless the variable says otherwise.
DEFAULT_TOPIC = "output_topic"
DEFAULT_TOPIC_VARIABLE = "CQRS_WORKER_DEFAULT_TOPIC"

PayloadT = TypeVar("PayloadT")
E_contra = TypeVar("E_contra", bound="Event", contravariant=True)


def default_topic() -> str:
    """The topic of events naming none: ``$CQRS_WORKER_DEFAULT_TOPIC``, else ``output_topic``.

    Read when such an event is built, so a process can set the variable at start-up.
    """
    return os.environ.get(DEFAULT_TOPIC_VARIABLE) or DEFAULT_TOPIC


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class Event(pydantic.BaseModel):
    """Base of every event. Events are immutable facts."""

    model_config = pydantic.ConfigDict(frozen=True, extra="forbid")


class DomainEvent(Event):
    """An event handled in this process, inside the unit of work that raised it."""


class WireEvent(Event, Generic[PayloadT]):
    """The fields every event that crosses a broker carries (the envelope).

    Subclass :class:`NotificationEvent` or :class:`ECSTEvent`, not this.
    Timestamps are timezone-aware UTC; a naive timestamp read from an older
    producer is taken to be UTC, and one with another offset is converted.
    """

    event_id: uuid.UUID = pydantic.Field(default_factory=uuid.uuid4)
    event_timestamp: datetime.datetime = pydantic.Field(default_factory=_utcnow)
    event_name: str
    # event_topic= is python-cqrs's spelling of the same field; the wire name stays "topic".
    topic: str = pydantic.Field(
        default_factory=default_topic,
        validation_alias=pydantic.AliasChoices("topic", "event_topic"),
    )
    payload: PayloadT
    partition_key: str | None = None

    @pydantic.field_validator("event_timestamp", mode="after")
    @classmethod
    def _aware_utc(cls, value: datetime.datetime) -> datetime.datetime:
        zone = value.tzinfo
        if zone is None:
            return value.replace(tzinfo=datetime.UTC)
        # zone.utcoffset() is ~4x cheaper than value.utcoffset(): this runs per decode.
        if zone is not datetime.UTC and zone.utcoffset(value):
            return value.astimezone(datetime.UTC)
        return value

    def __hash__(self) -> int:
        return hash(self.event_id)


class NotificationEvent(WireEvent[PayloadT], Generic[PayloadT]):
    """Tells other services that something happened; the payload says what."""


class ECSTEvent(WireEvent[PayloadT], Generic[PayloadT]):
    """Event-carried state transfer: the payload is the entity's new state."""


class EventHandler(Protocol[E_contra]):
    """Handles one event type. Bind it with ``EventMap.bind(EventType, Handler)``.

    A handler that emits follow-up events exposes them as ``events``; they are
    read after ``handle`` returns and dispatched only if every handler of the
    event succeeded. Handlers are built per message by the container, so an
    instance list is safe.
    """

    async def handle(self, event: E_contra, /) -> None: ...


def emitted_events(handler: object) -> Sequence[Event]:
    """What a handler emitted: its ``events`` attribute, or nothing."""
    events: Any = getattr(handler, "events", ())
    return tuple(events) if events else ()


def __getattr__(name: str) -> Any:
    # Loaded on first use: maps and the python-cqrs adapters import this module.
    if name == "EventMap":
        from cqrs_worker.maps import EventMap

        return EventMap
    if name == "EventEmitter":
        from cqrs_worker.compat.mediators import EventEmitter

        return EventEmitter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
