"""Which handler answers which message: :class:`RequestMap` and :class:`EventMap`.

A map binds a message type to a handler class, which the mediator asks the
container for, or to a :class:`HandlerBinding`: a policy that builds the
message's handler itself from the container (a chain of handlers, in
:mod:`cqrs_worker.chain`; a fallback, in :mod:`cqrs_worker.resilience`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cqrs_worker.binding import HandlerBinding
from cqrs_worker.chain import HandlerChain
from cqrs_worker.dataclass_models import DCNotificationEvent
from cqrs_worker.errors import ConfigurationError, HandlerAlreadyBoundError
from cqrs_worker.events import Event, WireEvent
from cqrs_worker.requests import Request

__all__ = ["EventMap", "HandlerBinding", "RequestMap", "event_name_of", "topic_of"]


class RequestMap(Mapping[type[Request], Any]):
    """One handler per request type: a class, or a :class:`HandlerBinding`.

    ``bind(Login, [ByPassword, ByToken])`` binds a chain of
    :class:`~cqrs_worker.chain.CORRequestHandler` links (python-cqrs's shape),
    a binding like a fallback. Requests bound to a plain class are kept apart
    too (:attr:`handler_classes`), so sending to one never looks at bindings.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Request], Any] = {}
        self._classes: dict[type[Request], type[Any]] = {}
        #: The handler class bound to a request type, or None (bindings are not here).
        self.handler_of = self._classes.get

    def bind(
        self,
        request_type: type[Request],
        handler_type: type[Any] | HandlerBinding | Sequence[type[Any]],
    ) -> None:
        bound = self._handlers.get(request_type)
        if bound is not None:
            raise HandlerAlreadyBoundError(
                f"{request_type.__qualname__} is already bound to {_name(bound)}; "
                f"a request has exactly one handler, so remove one of the bind() calls"
            )
        if isinstance(handler_type, HandlerBinding):
            self._handlers[request_type] = handler_type
            return
        if isinstance(handler_type, type):
            self._handlers[request_type] = self._classes[request_type] = handler_type
            return
        links = tuple(handler_type)
        if not links or not all(isinstance(link, type) for link in links):
            raise ConfigurationError(
                f"bind({request_type.__qualname__}, ...) takes a handler class, a "
                f"HandlerBinding or a non-empty list of CORRequestHandler classes"
            )
        self._handlers[request_type] = HandlerChain(links)

    @property
    def handler_classes(self) -> Mapping[type[Request], type[Any]]:
        """The requests bound to a handler class (not to a :class:`HandlerBinding`), live."""
        return self._classes

    def __getitem__(self, request_type: type[Request]) -> Any:
        return self._handlers[request_type]

    def get(self, request_type: type[Request], default: Any = None) -> Any:
        return self._handlers.get(request_type, default)

    def __iter__(self) -> Iterator[type[Request]]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


class EventMap(Mapping[type[Event], tuple[Any, ...]]):
    """Any number of handlers per event type, run in the order they were bound.

    Broker events are also known by name: ``bind`` records the class under
    its ``event_name`` (the field's default, or ``event_name=`` given here,
    which a parametrized ``NotificationEvent[Payload]`` needs), so a worker
    can turn a message back into the right class.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Event], tuple[Any, ...]] = {}
        self._names: dict[type[WireEvent[Any]], str] = {}

    def bind(
        self,
        event_type: type[Event],
        handler_type: type[Any] | HandlerBinding,
        *,
        event_name: str | None = None,
    ) -> None:
        handlers = self._handlers.get(event_type, ())
        if handler_type in handlers:
            raise HandlerAlreadyBoundError(
                f"{_name(handler_type)} is already bound to {event_type.__qualname__}"
            )
        self._handlers[event_type] = (*handlers, handler_type)
        if issubclass(event_type, (WireEvent, DCNotificationEvent)):
            name = event_name or event_name_of(event_type)
            if name is not None:
                self._names[event_type] = name
        elif event_name is not None:
            raise ConfigurationError(
                f"event_name= applies to NotificationEvent/ECSTEvent classes, "
                f"not to {event_type.__qualname__}"
            )

    def names(self) -> Mapping[type[WireEvent[Any]], str]:
        """The broker event classes bound here, with their event names."""
        return dict(self._names)

    def __getitem__(self, event_type: type[Event]) -> tuple[Any, ...]:
        return self._handlers[event_type]

    # Mapping's own get/__contains__ go through __getitem__ and an exception
    # for a miss; these run for every event dispatched.
    def get(self, event_type: type[Event], default: Any = None) -> Any:
        return self._handlers.get(event_type, default)

    def __contains__(self, event_type: object) -> bool:
        return event_type in self._handlers

    def __iter__(self) -> Iterator[type[Event]]:
        return iter(self._handlers)

    def __len__(self) -> int:
        return len(self._handlers)


def _name(handler: Any) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)


def _field_default(event_type: type[Any], field: str) -> str | None:
    if dataclasses.is_dataclass(event_type):  # python-cqrs's dataclass events
        spec = event_type.__dataclass_fields__.get(field)
        default = getattr(spec, "default", None)
        return default if isinstance(default, str) else None
    info = event_type.model_fields.get(field)
    if info is None or not isinstance(info.default, str):
        return None
    return info.default


def event_name_of(event_type: type[Event] | type[DCNotificationEvent[Any]]) -> str | None:
    """The class's default ``event_name``, if it declares one."""
    return _field_default(event_type, "event_name")


def topic_of(event_type: type[Event] | type[DCNotificationEvent[Any]]) -> str | None:
    """The class's default ``topic``, if it declares one."""
    return _field_default(event_type, "topic")
