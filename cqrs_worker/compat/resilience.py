"""python-cqrs's circuit breaker adapter, building ours."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cqrs_worker.resilience.breaker import InMemoryCircuitBreaker

__all__ = ["AioBreakerAdapter"]


def AioBreakerAdapter(
    fail_max: int = 5,
    timeout_duration: int = 60,
    exclude: list[type[Exception]] | None = None,
    storage_factory: Callable[[str], Any] | None = None,
) -> InMemoryCircuitBreaker:
    """python-cqrs's ``AioBreakerAdapter(fail_max=, timeout_duration=, exclude=)``.

    Builds an :class:`~cqrs_worker.resilience.InMemoryCircuitBreaker` with the
    same settings (no aiobreaker needed). aiobreaker storages do not carry
    over: for state shared by workers, use
    :class:`cqrs_worker.resilience.redis.RedisCircuitBreaker`.
    """
    if storage_factory is not None:
        raise TypeError(
            "AioBreakerAdapter(storage_factory=) takes aiobreaker storages, which cqrs-worker "
            "does not use; for a breaker shared by workers use "
            "cqrs_worker.resilience.redis.RedisCircuitBreaker(redis_client, fail_max=, "
            "timeout_duration=)"
        )
    return InMemoryCircuitBreaker(
        fail_max=fail_max, timeout_duration=timeout_duration, exclude=exclude or ()
    )
