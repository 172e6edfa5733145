"""Which handler answers which message: :class:`RequestMap` and :class:`EventMap`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cqrs_worker.chain import HandlerChain
from cqrs_worker.dataclass_models import DCNotificationEvent
from cqrs_worker.errors import ConfigurationError, HandlerAlreadyBoundError
from cqrs_worker.events import Event, WireEvent
from cqrs_worker.requests import Request

__all__ = ["EventMap", "RequestMap", "event_name_of", "topic_of"]


class RequestMap(Mapping[type[Request], "type[Any] | HandlerChain"]):
    """One handler per request type, or one chain of handlers tried in order.

    ``bind(Login, [ByPassword, ByToken])`` binds a chain of
    :class:`~cqrs_worker.chain.CORRequestHandler` links (python-cqrs's shape).
    Chains are kept apart from single handlers, so sending to a single
    handler never looks at them.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Request], type[Any]] = {}
        self._chains: dict[type[Request], HandlerChain] = {}
        #: The single handler bound to a request type, or None (chains are not here).
        self.handler_of = self._handlers.get
        #: The chain bound to a request type, or None.
        self.chain_of = self._chains.get

    def bind(
        self, request_type: type[Request], handler_type: type[Any] | Sequence[type[Any]]
    ) -> None:
        bound = self.get(request_type)
        if bound is not None:
            name = bound if isinstance(bound, HandlerChain) else bound.__qualname__
            raise HandlerAlreadyBoundError(
                f"{request_type.__qualname__} is already bound to {name}; "
                f"a request has exactly one handler, so remove one of the bind() calls"
            )
        if isinstance(handler_type, type):
            self._handlers[request_type] = handler_type
            return
        links = tuple(handler_type)
        if not links or not all(isinstance(link, type) for link in links):
            raise ConfigurationError(
                f"bind({request_type.__qualname__}, ...) takes a handler class or a "
                f"non-empty list of CORRequestHandler classes"
            )
        self._chains[request_type] = HandlerChain(links)

    def __getitem__(self, request_type: type[Request]) -> type[Any] | HandlerChain:
        bound = self.get(request_type)
        if bound is None:
            raise KeyError(request_type)
        return bound  # type: ignore[no-any-return]  # get() is typed Any for Mapping

    def get(self, request_type: type[Request], default: Any = None) -> Any:
        handler = self._handlers.get(request_type)
        if handler is not None:
            return handler
        return self._chains.get(request_type, default)

    def __iter__(self) -> Iterator[type[Request]]:
        yield from self._handlers
        yield from self._chains

    def __len__(self) -> int:
        return len(self._handlers) + len(self._chains)


class EventMap(Mapping[type[Event], tuple[type[Any], ...]]):
    """Any number of handlers per event type, run in the order they were bound.

    Broker events are also known by name: ``bind`` records the class under
    its ``event_name`` (the field's default, or ``event_name=`` given here,
    which a parametrized ``NotificationEvent[Payload]`` needs), so a worker
    can turn a message back into the right class.
    """

    def __init__(self) -> None:
        self._handlers: dict[type[Event], tuple[type[Any], ...]] = {}
        self._names: dict[type[WireEvent[Any]], str] = {}

    def bind(
        self,
        event_type: type[Event],
        handler_type: type[Any],
        *,
        event_name: str | None = None,
    ) -> None:
        handlers = self._handlers.get(event_type, ())
        if handler_type in handlers:
            raise HandlerAlreadyBoundError(
                f"{handler_type.__qualname__} is already bound to {event_type.__qualname__}"
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

    def __getitem__(self, event_type: type[Event]) -> tuple[type[Any], ...]:
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
