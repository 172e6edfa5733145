"""What a worker would do, without running it: :func:`describe_worker`.

The description is read from the same objects the worker runs with -- the
EventMap, the settings, the retry policy and the handler time limits -- so
it cannot drift from the behaviour. It does no I/O. Secrets in the settings
are redacted (:mod:`cqrs_worker.introspection.settings_view`).
"""

from __future__ import annotations

import inspect
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cqrs_worker.introspection.destinations import Destinations, destinations
from cqrs_worker.introspection.settings_view import SettingView, settings_view
from cqrs_worker.maps import event_name_of, topic_of
from cqrs_worker.worker.context import retry_policy
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.timeout import HandlerTimeouts

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cqrs_worker.worker.app import Worker

__all__ = [
    "EventDescription",
    "HandlerDescription",
    "RetryDescription",
    "WorkerDescription",
    "describe_worker",
    "qualified_name",
]


def qualified_name(obj: object) -> str:
    """``module.QualName`` of a class or function (of an instance: of its class)."""
    kind = obj if isinstance(obj, type) or inspect.isroutine(obj) else type(obj)
    module = getattr(kind, "__module__", None)
    name = getattr(kind, "__qualname__", repr(kind))
    return f"{module}.{name}" if module and module != "builtins" else str(name)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryDescription:
    """A :class:`~cqrs_worker.worker.retry.RetryPolicy`, with exception types by name."""

    max_attempts: int
    initial_delay: float
    max_delay: float
    multiplier: float
    jitter: float
    permanent: tuple[str, ...]
    retryable: tuple[str, ...] | None

    @classmethod
    def of(cls, policy: RetryPolicy) -> RetryDescription:
        return cls(
            max_attempts=policy.max_attempts,
            initial_delay=policy.initial_delay,
            max_delay=policy.max_delay,
            multiplier=policy.multiplier,
            jitter=policy.jitter,
            permanent=tuple(qualified_name(t) for t in policy.permanent),
            retryable=(
                None
                if policy.retryable is None
                else tuple(qualified_name(t) for t in policy.retryable)
            ),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class HandlerDescription:
    """One handler class: its own ``retry_policy`` and ``handler_timeout``, if it sets them.

    ``handler_timeout`` is ``None`` both when the class sets no limit and when
    it inherits none; ``timeout_from`` says which (``handler`` or ``worker``).
    """

    name: str
    retry_policy: RetryDescription | None
    handler_timeout: float | None
    timeout_from: str


@dataclass(frozen=True, slots=True, kw_only=True)
class EventDescription:
    """A bound event class: its name and topic on the wire, and its handlers in order.

    ``attempt_timeout`` is the limit of one attempt (the handlers' limits
    summed, ``None`` if any has none), as the worker applies it.
    """

    event_name: str | None
    event_class: str
    topic: str | None
    handlers: tuple[HandlerDescription, ...]
    attempt_timeout: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerDescription:
    """Everything ``cqrs-worker describe`` shows; :meth:`to_dict` is its ``--json``."""

    target: str
    worker_id: str
    destinations: Destinations
    events: tuple[EventDescription, ...]
    in_process_events: tuple[EventDescription, ...]
    retry_policy: RetryDescription
    handler_timeout: float | None
    liveness_stuck_after: float | None
    on_unknown_event: str
    middlewares: tuple[str, ...]
    settings: tuple[SettingView, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def describe_worker(
    worker: Worker, *, target: str = "", sources: Mapping[str, str] | None = None
) -> WorkerDescription:
    """The description of ``worker``; ``sources`` names where each setting came from.

    Raises :class:`~cqrs_worker.errors.ConfigurationError` where ``run``
    would (an event class without a topic, nothing bound).
    """
    settings = worker.settings
    event_map = worker.mediator.event_map
    timeouts = HandlerTimeouts(event_map, settings.handler_timeout)
    names: dict[type[Any], str] = dict(event_map.names())
    wire: list[EventDescription] = []
    local: list[EventDescription] = []
    for event_type, handler_types in event_map.items():
        handlers = tuple(_handler(h, settings.handler_timeout) for h in handler_types)
        is_wire = event_type in names
        description = EventDescription(
            event_name=names.get(event_type) if is_wire else event_name_of(event_type),
            event_class=qualified_name(event_type),
            topic=topic_of(event_type) if is_wire else None,
            handlers=handlers,
            attempt_timeout=timeouts.limit(event_type),
        )
        (wire if is_wire else local).append(description)
    return WorkerDescription(
        target=target,
        worker_id=worker.worker_id,
        destinations=destinations(settings, worker.topics()),
        events=tuple(sorted(wire, key=lambda e: (e.event_name or "", e.event_class))),
        in_process_events=tuple(local),
        retry_policy=RetryDescription.of(retry_policy(settings)),
        handler_timeout=settings.handler_timeout,
        liveness_stuck_after=settings.liveness_stuck_after,
        on_unknown_event=settings.on_unknown_event,
        middlewares=tuple(qualified_name(m) for m in worker.middlewares),
        settings=settings_view(settings, sources or {}),
    )


def _handler(handler_type: type[Any], default_timeout: float | None) -> HandlerDescription:
    policy = getattr(handler_type, "retry_policy", None)
    own_timeout = hasattr(handler_type, "handler_timeout")
    return HandlerDescription(
        name=qualified_name(handler_type),
        retry_policy=RetryDescription.of(policy) if isinstance(policy, RetryPolicy) else None,
        handler_timeout=handler_type.handler_timeout if own_timeout else default_timeout,
        timeout_from="handler" if own_timeout else "worker",
    )
