"""Dataclass requests, responses and events: python-cqrs 5.3's default models, as an adapter.

Our messages are pydantic models (:class:`~cqrs_worker.Request`,
:class:`~cqrs_worker.DomainEvent`, :class:`~cqrs_worker.NotificationEvent`);
that stays the one way to model a message here. Code coming from python-cqrs
models its messages as dataclasses (``cqrs.Request`` is ``DCRequest`` there),
and these bases let those classes move over unchanged: subclass them without
writing ``@dataclass`` (the base applies it) and they come with
``to_dict()`` / ``from_dict(**fields)``.

They are met at the boundaries and turned into ours there:

* the mediators take dataclass requests and events as they are (a handler is
  bound to the class either way);
* a :class:`DCNotificationEvent` a handler emits, or one added to the outbox,
  becomes a :class:`~cqrs_worker.NotificationEvent` (:meth:`~DCNotificationEvent.to_wire`)
  before it reaches an emitter, so the envelope on the wire is ours;
* a worker whose EventMap binds a :class:`DCNotificationEvent` subclass decodes
  messages into it (python-cqrs's camelCase envelopes as well as ours).

The classes are pydantic dataclasses, so decoding validates them. As in
python-cqrs, declare the payload's type on the subclass (``payload: Order``).
"""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any, Generic, Self, TypeVar

import pydantic
import pydantic_core
from typing_extensions import TypeVar as DefaultTypeVar
from typing_extensions import dataclass_transform

from cqrs_worker.events import NotificationEvent, default_topic

__all__ = [
    "DCDomainEvent",
    "DCEvent",
    "DCNotificationEvent",
    "DCRequest",
    "DCResponse",
    "DataclassModel",
]

ResultT = DefaultTypeVar("ResultT", covariant=True, default=Any)
PayloadT = TypeVar("PayloadT")


def _utcnow() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


class DataclassModel:
    """``to_dict`` / ``from_dict`` for the dataclass bases; subclasses become dataclasses."""

    _frozen = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__dataclass_fields__" not in cls.__dict__:  # the user wrote no @dataclass
            pydantic.dataclasses.dataclass(frozen=cls._frozen, kw_only=True)(cls)

    def to_dict(self) -> dict[str, Any]:
        """The fields as a dict (nested dataclasses as dicts, values as they are)."""
        fields: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass
        return fields

    @classmethod
    def from_dict(cls, **fields: Any) -> Self:
        """Build from keyword fields (validated, as in the constructor)."""
        return cls(**fields)


@dataclass_transform(kw_only_default=True)
class DCRequest(DataclassModel, Generic[ResultT]):
    """A command or query as a dataclass (python-cqrs's default ``Request``)."""


@dataclass_transform(kw_only_default=True)
class DCResponse(DataclassModel):
    """What a request answers, as a dataclass."""


@dataclass_transform(frozen_default=True, kw_only_default=True)
class DCEvent(DataclassModel):
    """Base of dataclass events; events are immutable facts."""

    _frozen = True


class DCDomainEvent(DCEvent):
    """A dataclass event handled in this process."""


@dataclass_transform(frozen_default=True, kw_only_default=True)
class DCNotificationEvent(DCEvent, Generic[PayloadT]):
    """A dataclass event for other services; the envelope fields are ours."""

    event_name: str
    payload: PayloadT
    event_id: uuid.UUID = dataclasses.field(default_factory=uuid.uuid4)
    event_timestamp: datetime.datetime = dataclasses.field(default_factory=_utcnow)
    topic: str = dataclasses.field(default_factory=default_topic)
    partition_key: str | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # A frozen dataclass would hash every field (a dict payload cannot be hashed).
        cls.__hash__ = DCNotificationEvent.__hash__  # type: ignore[method-assign]  # keep identity by id

    def __hash__(self) -> int:
        return hash(self.event_id)

    def to_wire(self) -> NotificationEvent[Any]:
        """This event as our :class:`~cqrs_worker.NotificationEvent` (emitters, the outbox)."""
        return NotificationEvent[Any](
            event_id=self.event_id,
            event_timestamp=self.event_timestamp,
            event_name=self.event_name,
            topic=self.topic,
            payload=pydantic_core.to_jsonable_python(self.payload),
            partition_key=self.partition_key,
        )
