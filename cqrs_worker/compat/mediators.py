"""python-cqrs's mediator and bootstrap call shapes, building our mediators."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, cast

from cqrs_worker.bootstrap import bootstrap
from cqrs_worker.bootstrap import bootstrap_streaming as _bootstrap_streaming
from cqrs_worker.brokers.emitter import BrokerEventEmitter
from cqrs_worker.brokers.protocol import MessageBroker
from cqrs_worker.container import Container
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.middleware import Middleware
from cqrs_worker.request_mediator import RequestMediator as _RequestMediator
from cqrs_worker.streaming_mediator import StreamingRequestMediator as _StreamingRequestMediator

if TYPE_CHECKING:
    import di

__all__ = [
    "EventEmitter",
    "RequestMediator",
    "StreamingRequestMediator",
    "bootstrap_events",
    "bootstrap_requests",
    "bootstrap_streaming",
]


def _container(given: Container | di.Container) -> Container:
    # python-cqrs's bootstrap wraps a bare ``di.Container`` itself; so do we. Looked
    # up in sys.modules: if di was never imported, ``given`` cannot be one.
    di_module = sys.modules.get("di")
    if di_module is not None and isinstance(given, di_module.Container):
        from cqrs_worker.contrib.di import DIContainer

        return DIContainer(given)
    return cast(Container, given)


def EventEmitter(
    event_map: EventMap,
    container: Container,
    message_broker: MessageBroker | None = None,
) -> EventMediator:
    """python-cqrs's ``EventEmitter(event_map, container, message_broker)``.

    What it did is our :class:`~cqrs_worker.EventMediator`: domain events to
    the handlers in ``event_map``, Notification/ECST events to the broker.
    """
    emitter = BrokerEventEmitter(message_broker) if message_broker is not None else None
    return EventMediator(event_map, container, emitter=emitter)


def RequestMediator(
    request_map: RequestMap,
    container: Container,
    event_emitter: EventMediator | None = None,
    middlewares: Sequence[Middleware] = (),
) -> _RequestMediator:
    """python-cqrs's ``RequestMediator(request_map=, container=, event_emitter=)``.

    ``event_emitter`` is what :func:`EventEmitter` built (our event mediator).
    """
    return _RequestMediator(
        request_map, container, event_mediator=event_emitter, middlewares=middlewares
    )


def bootstrap_requests(
    di_container: Container | di.Container,
    message_broker: MessageBroker | None = None,
    middlewares: Sequence[Middleware] | None = None,
    commands_mapper: Callable[[RequestMap], None] | None = None,
    domain_events_mapper: Callable[[EventMap], None] | None = None,
    queries_mapper: Callable[[RequestMap], None] | None = None,
    max_concurrent_event_handlers: int = 1,
) -> _RequestMediator:
    """python-cqrs's requests ``bootstrap(di_container=, commands_mapper=, ...)``.

    Our :func:`~cqrs_worker.bootstrap` with both request mappers binding into
    one map and the broker behind a :class:`~cqrs_worker.brokers.BrokerEventEmitter`.
    A bare ``di.Container`` is wrapped in :class:`~cqrs_worker.contrib.di.DIContainer`.
    """

    def requests(request_map: RequestMap) -> None:
        for mapper in (commands_mapper, queries_mapper):
            if mapper is not None:
                mapper(request_map)

    return bootstrap(
        requests=requests,
        events=domain_events_mapper,
        container=_container(di_container),
        emitter=BrokerEventEmitter(message_broker) if message_broker is not None else None,
        middlewares=middlewares,
        max_concurrent_event_handlers=max_concurrent_event_handlers,
    ).requests


def bootstrap_events(
    di_container: Container | di.Container,
    events_mapper: Callable[[EventMap], None] | None = None,
    middlewares: Sequence[Middleware] | None = None,
    message_broker: MessageBroker | None = None,
    max_concurrent_event_handlers: int = 1,
) -> EventMediator:
    """python-cqrs's events ``bootstrap(di_container=, events_mapper=)``: our event mediator."""
    return bootstrap(
        events=events_mapper,
        container=_container(di_container),
        emitter=BrokerEventEmitter(message_broker) if message_broker is not None else None,
        middlewares=middlewares,
        max_concurrent_event_handlers=max_concurrent_event_handlers,
    ).events


def StreamingRequestMediator(
    request_map: RequestMap,
    container: Container,
    event_emitter: EventMediator | None = None,
) -> _StreamingRequestMediator:
    """python-cqrs's ``StreamingRequestMediator(request_map=, container=, event_emitter=)``."""
    return _StreamingRequestMediator(request_map, container, event_mediator=event_emitter)


def bootstrap_streaming(
    di_container: Container,
    message_broker: MessageBroker | None = None,
    middlewares: Sequence[Middleware] | None = None,
    commands_mapper: Callable[[RequestMap], None] | None = None,
    domain_events_mapper: Callable[[EventMap], None] | None = None,
    queries_mapper: Callable[[RequestMap], None] | None = None,
    max_concurrent_event_handlers: int = 1,
) -> _StreamingRequestMediator:
    """python-cqrs's requests ``bootstrap_streaming(di_container=, commands_mapper=, ...)``."""

    def requests(request_map: RequestMap) -> None:
        for mapper in (commands_mapper, queries_mapper):
            if mapper is not None:
                mapper(request_map)

    return _bootstrap_streaming(
        requests=requests,
        events=domain_events_mapper,
        container=_container(di_container),
        emitter=BrokerEventEmitter(message_broker) if message_broker is not None else None,
        middlewares=middlewares,
        max_concurrent_event_handlers=max_concurrent_event_handlers,
    )
