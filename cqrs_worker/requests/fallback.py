"""python-cqrs's module path ``cqrs.requests.fallback``: our :mod:`cqrs_worker.resilience`."""

from cqrs_worker.resilience.fallback import RequestHandlerFallback

__all__ = ["RequestHandlerFallback"]
