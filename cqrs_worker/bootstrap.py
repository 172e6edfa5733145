"""Ready-made mediators from maps, a container, an emitter and middlewares.

One function builds both mediators so their defaults cannot drift apart: the
same container, the same middlewares (by default one
:class:`~cqrs_worker.LoggingMiddleware`), and a request mediator whose emitted
events go through the event mediator. When the container is a
:class:`~cqrs_worker.DefaultContainer`, both mediators (and the emitter) are
registered in it, so handlers can ask for them by type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Never, TypeVar, cast

from cqrs_worker.container import Container, DefaultContainer
from cqrs_worker.emitter import EventEmitter
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.middleware import LoggingMiddleware, Middleware
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.streaming_mediator import StreamingRequestMediator

__all__ = [
    "Mediators",
    "bootstrap",
    "bootstrap_events",
    "bootstrap_requests",
    "bootstrap_streaming",
]

M = TypeVar("M", RequestMap, EventMap)
#: python-cqrs's bootstrap keywords, and what to write here instead.
_PYTHON_CQRS_KEYWORDS = {
    "di_container": "container=",
    "commands_mapper": "requests=",
    "queries_mapper": "requests=",
    "domain_events_mapper": "events=",
    "events_mapper": "events=",
    "message_broker": "emitter=BrokerEventEmitter(broker)",
}
RequestsMapper = RequestMap | Callable[[RequestMap], None]
EventsMapper = EventMap | Callable[[EventMap], None]


@dataclass(frozen=True, slots=True)
class Mediators:
    """Both mediators, sharing one container."""

    requests: RequestMediator
    events: EventMediator


def bootstrap(
    *,
    requests: RequestsMapper | None = None,
    events: EventsMapper | None = None,
    container: Container | None = None,
    emitter: EventEmitter | None = None,
    middlewares: Sequence[Middleware] | None = None,
    max_event_depth: int = 8,
    max_concurrent_event_handlers: int = 1,
    **unknown: Never,
) -> Mediators:
    """Build a request mediator and an event mediator that work together.

    ``requests`` and ``events`` are maps, or functions that bind into a fresh
    map (python-cqrs's ``commands_mapper`` / ``domain_events_mapper`` style).
    python-cqrs's keywords (``di_container=``, ...) raise a ``TypeError``
    saying what to write; ``cqrs_worker.requests.bootstrap.bootstrap`` takes them.
    ``max_concurrent_event_handlers`` > 1 runs that many handlers of one event at once.
    """
    if unknown:
        raise _unknown_keywords("bootstrap", unknown)
    container = container if container is not None else DefaultContainer()
    chain = tuple(middlewares) if middlewares is not None else (LoggingMiddleware(),)
    event_mediator = EventMediator(
        _map(events, EventMap),
        container,
        emitter=emitter,
        middlewares=chain,
        max_depth=max_event_depth,
        max_concurrent_event_handlers=max_concurrent_event_handlers,
    )
    request_mediator = RequestMediator(
        _map(requests, RequestMap), container, event_mediator=event_mediator, middlewares=chain
    )
    if isinstance(container, DefaultContainer):
        container.register_instance(RequestMediator, request_mediator)
        container.register_instance(EventMediator, event_mediator)
        if emitter is not None:
            container.register_instance(EventEmitter, emitter)  # type: ignore[type-abstract]  # a Protocol is the key users ask for
    return Mediators(requests=request_mediator, events=event_mediator)


def bootstrap_requests(
    *,
    requests: RequestsMapper | None = None,
    events: EventsMapper | None = None,
    container: Container | None = None,
    emitter: EventEmitter | None = None,
    middlewares: Sequence[Middleware] | None = None,
    **unknown: Never,
) -> RequestMediator:
    """:func:`bootstrap`, returning the request mediator."""
    if unknown:
        raise _unknown_keywords("bootstrap_requests", unknown)
    return bootstrap(
        requests=requests,
        events=events,
        container=container,
        emitter=emitter,
        middlewares=middlewares,
    ).requests


def bootstrap_events(
    *,
    events: EventsMapper | None = None,
    requests: RequestsMapper | None = None,
    container: Container | None = None,
    emitter: EventEmitter | None = None,
    middlewares: Sequence[Middleware] | None = None,
    max_concurrent_event_handlers: int = 1,
    **unknown: Never,
) -> EventMediator:
    """:func:`bootstrap`, returning the event mediator (what a worker runs)."""
    if unknown:
        raise _unknown_keywords("bootstrap_events", unknown)
    return bootstrap(
        requests=requests,
        events=events,
        container=container,
        emitter=emitter,
        middlewares=middlewares,
        max_concurrent_event_handlers=max_concurrent_event_handlers,
    ).events


def bootstrap_streaming(
    *,
    requests: RequestsMapper | None = None,
    events: EventsMapper | None = None,
    container: Container | None = None,
    emitter: EventEmitter | None = None,
    middlewares: Sequence[Middleware] | None = None,
    max_concurrent_event_handlers: int = 1,
    **unknown: Never,
) -> StreamingRequestMediator:
    """A :class:`~cqrs_worker.StreamingRequestMediator` whose events go through :func:`bootstrap`'s
    event mediator (``middlewares`` wrap those events' handling; a stream has none)."""
    if unknown:
        raise _unknown_keywords("bootstrap_streaming", unknown)
    request_map = _map(requests, RequestMap)
    mediators = bootstrap(
        requests=request_map,
        events=events,
        container=container,
        emitter=emitter,
        middlewares=middlewares,
        max_concurrent_event_handlers=max_concurrent_event_handlers,
    )
    return StreamingRequestMediator(
        request_map, mediators.events.container, event_mediator=mediators.events
    )


def _map(mapper: M | Callable[[M], None] | None, kind: type[M]) -> M:
    if isinstance(mapper, kind):
        return mapper
    fresh = kind()
    if mapper is not None:
        cast(Callable[[M], None], mapper)(fresh)
    return fresh


def _unknown_keywords(function: str, given: Mapping[str, object]) -> TypeError:
    fixes = [
        f"{name}= -> {_PYTHON_CQRS_KEYWORDS[name]}"
        for name in sorted(given)
        if name in _PYTHON_CQRS_KEYWORDS
    ]
    if not fixes:
        return TypeError(f"{function}() got unexpected keyword(s): {', '.join(sorted(given))}")
    return TypeError(
        f"{function}() takes our keywords, not python-cqrs's: write {'; '.join(fixes)} "
        f"(or call cqrs_worker.requests.bootstrap.bootstrap, which takes python-cqrs's keywords)"
    )
