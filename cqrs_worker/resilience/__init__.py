"""Fallback handlers and circuit breakers for request and event handlers.

Bind a :class:`RequestHandlerFallback` or :class:`EventHandlerFallback` in
place of a handler; give it a :class:`CircuitBreaker` to stop calling a
primary that keeps failing. :class:`InMemoryCircuitBreaker` keeps circuits in
the process; :class:`cqrs_worker.resilience.redis.RedisCircuitBreaker`
(``pip install 'cqrs-worker[redis]'``) shares them between workers.
"""

from cqrs_worker.resilience.breaker import BreakerState, CircuitBreaker, InMemoryCircuitBreaker
from cqrs_worker.resilience.fallback import EventHandlerFallback, RequestHandlerFallback

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "EventHandlerFallback",
    "InMemoryCircuitBreaker",
    "RequestHandlerFallback",
]
