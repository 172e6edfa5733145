"""The :class:`EventRegistry`: event name -> event class, for decoding."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from cqrs_worker.errors import ConfigurationError, EventNameConflictError
from cqrs_worker.events import WireEvent
from cqrs_worker.maps import EventMap, event_name_of

__all__ = ["EventRegistry"]

EventType = type[WireEvent[Any]]


class EventRegistry(Mapping[str, EventType]):
    """Knows which class a message's ``event_name`` stands for.

    Parametrized classes work as well as subclasses:
    ``registry.register(NotificationEvent[UserJoinedPayload], name="UserJoined")``.
    """

    def __init__(self) -> None:
        self._types: dict[str, EventType] = {}

    @classmethod
    def from_event_map(cls, event_map: EventMap) -> EventRegistry:
        """Register every broker event class bound in ``event_map``."""
        registry = cls()
        for event_type, name in event_map.names().items():
            registry.register(event_type, name=name)
        return registry

    def register(self, event_type: EventType, *, name: str | None = None) -> None:
        name = name or event_name_of(event_type)
        if name is None:
            raise ConfigurationError(
                f"{event_type.__qualname__} has no default event_name; give the field a "
                f"default in the class or pass name= when registering it"
            )
        known = self._types.get(name)
        if known is not None and known is not event_type:
            raise EventNameConflictError(
                f"event name {name!r} is registered for both {known.__qualname__} and "
                f"{event_type.__qualname__}; each event name must map to one class"
            )
        self._types[name] = event_type

    def __getitem__(self, name: str) -> EventType:
        return self._types[name]

    def get(self, name: str, default: Any = None) -> Any:
        return self._types.get(name, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._types)

    def __len__(self) -> int:
        return len(self._types)
