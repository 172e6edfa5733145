"""python-cqrs's module path ``cqrs.events.fallback``: our :mod:`cqrs_worker.resilience`."""

from cqrs_worker.resilience.fallback import EventHandlerFallback

__all__ = ["EventHandlerFallback"]
