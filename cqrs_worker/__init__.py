"""cqrs-worker: CQRS mediators, typed events, a transactional outbox and a worker runtime.

The names below are the public API. Transports, the outbox and the worker are
reached through their subpackages (``cqrs_worker.brokers``,
``cqrs_worker.outbox``, ``cqrs_worker.worker``), so importing this package
loads no broker or database client.

``EventProducer`` and ``SqlAlchemyOutboxedEventRepository`` are here in
python-cqrs's shapes (:mod:`cqrs_worker.compat`), loaded on first use; ours
are :class:`cqrs_worker.outbox.EventProducer` and
:class:`cqrs_worker.outbox.OutboxRepository`.
"""

from typing import TYPE_CHECKING, Any

from cqrs_worker._version import __version__
from cqrs_worker.bootstrap import (
    Mediators,
    bootstrap,
    bootstrap_events,
    bootstrap_requests,
    bootstrap_streaming,
)
from cqrs_worker.chain import CORRequestHandler, build_chain
from cqrs_worker.container import Container, DefaultContainer
from cqrs_worker.dataclass_models import (
    DCDomainEvent,
    DCEvent,
    DCNotificationEvent,
    DCRequest,
    DCResponse,
)
from cqrs_worker.emitter import EventEmitter, InMemoryEventEmitter
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry, encode_event
from cqrs_worker.errors import (
    ConfigurationError,
    CqrsWorkerError,
    DecodeError,
    DispatchError,
    EventHandlingError,
    PublishError,
)
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import (
    DomainEvent,
    ECSTEvent,
    Event,
    EventHandler,
    NotificationEvent,
    WireEvent,
)
from cqrs_worker.maps import EventMap, HandlerBinding, RequestMap
from cqrs_worker.middleware import LoggingMiddleware, Middleware
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.requests import Command, Query, Request, RequestHandler, Response
from cqrs_worker.streaming_mediator import StreamingRequestHandler, StreamingRequestMediator

if TYPE_CHECKING:
    from cqrs_worker.compat.outbox import EventProducer, SqlAlchemyOutboxedEventRepository

__all__ = [
    "CORRequestHandler",
    "Command",
    "ConfigurationError",
    "Container",
    "CqrsWorkerError",
    "DCDomainEvent",
    "DCEvent",
    "DCNotificationEvent",
    "DCRequest",
    "DCResponse",
    "DecodeError",
    "DefaultContainer",
    "DispatchError",
    "DomainEvent",
    "ECSTEvent",
    "EnvelopeCodec",
    "Event",
    "EventEmitter",
    "EventHandler",
    "EventHandlingError",
    "EventMap",
    "EventMediator",
    "EventProducer",
    "EventRegistry",
    "HandlerBinding",
    "InMemoryEventEmitter",
    "LoggingMiddleware",
    "Mediators",
    "Middleware",
    "NotificationEvent",
    "PublishError",
    "Query",
    "Request",
    "RequestHandler",
    "RequestMap",
    "RequestMediator",
    "Response",
    "SqlAlchemyOutboxedEventRepository",
    "StreamingRequestHandler",
    "StreamingRequestMediator",
    "WireEvent",
    "__version__",
    "bootstrap",
    "bootstrap_events",
    "bootstrap_requests",
    "bootstrap_streaming",
    "build_chain",
    "encode_event",
]


def __getattr__(name: str) -> Any:
    # python-cqrs's top-level outbox names, loaded on first use: they need SQLAlchemy.
    if name in ("EventProducer", "SqlAlchemyOutboxedEventRepository"):
        from cqrs_worker.compat import outbox

        return getattr(outbox, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
