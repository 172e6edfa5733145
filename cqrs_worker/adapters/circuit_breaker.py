"""python-cqrs's module path ``cqrs.adapters.circuit_breaker`` (see :mod:`cqrs_worker.compat`)."""

from cqrs_worker.compat.resilience import AioBreakerAdapter

__all__ = ["AioBreakerAdapter"]
