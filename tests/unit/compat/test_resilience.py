"""python-cqrs's fallback and breaker import paths and call shapes build ours."""

from __future__ import annotations

import pytest

import cqrs_worker.resilience as ours
from cqrs_worker.adapters.circuit_breaker import AioBreakerAdapter
from cqrs_worker.events.fallback import EventHandlerFallback
from cqrs_worker.requests.fallback import RequestHandlerFallback
from cqrs_worker.resilience import InMemoryCircuitBreaker


class BusinessError(Exception):
    pass


async def test_aiobreaker_adapter_builds_our_breaker_with_its_settings() -> None:
    breaker = AioBreakerAdapter(fail_max=2, timeout_duration=30, exclude=[BusinessError])

    assert isinstance(breaker, InMemoryCircuitBreaker)
    assert (breaker.fail_max, breaker.timeout_duration, breaker.exclude) == (
        2,
        30,
        (BusinessError,),
    )
    await breaker.record_failure("h", BusinessError())
    await breaker.record_failure("h", ConnectionError())
    assert await breaker.allow("h")
    await breaker.record_failure("h", ConnectionError())
    assert not await breaker.allow("h")


def test_aiobreaker_storages_name_the_redis_breaker() -> None:
    with pytest.raises(TypeError, match=r"resilience\.redis\.RedisCircuitBreaker"):
        AioBreakerAdapter(storage_factory=lambda name: None)


def test_the_fallback_paths_are_ours() -> None:
    assert RequestHandlerFallback is ours.RequestHandlerFallback
    assert EventHandlerFallback is ours.EventHandlerFallback
