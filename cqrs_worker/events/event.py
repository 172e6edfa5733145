"""python-cqrs's module path ``cqrs.events.event`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.events import DomainEvent, ECSTEvent, Event, NotificationEvent

__all__ = ["DomainEvent", "ECSTEvent", "Event", "NotificationEvent"]
