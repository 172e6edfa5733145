"""RedisCircuitBreaker against the real local Redis: two breakers are two workers of a fleet."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from cqrs_worker.resilience.redis import RedisCircuitBreaker
from tests.support.names import unique_name


class Clock:
    """The fleet's (synchronised) wall clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


class BusinessError(Exception):
    pass


@pytest.fixture
async def clients(redis_url: str) -> AsyncIterator[tuple[Redis, Redis]]:
    first, second = Redis.from_url(redis_url), Redis.from_url(redis_url)
    try:
        yield first, second
    finally:
        await first.aclose()
        await second.aclose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def workers(
    clients: tuple[Redis, Redis], clock: Clock, request: pytest.FixtureRequest
) -> tuple[RedisCircuitBreaker, RedisCircuitBreaker]:
    prefix = unique_name(f"test:{request.node.name}") + ":"

    def worker(client: Redis) -> RedisCircuitBreaker:
        return RedisCircuitBreaker(
            client,
            fail_max=3,
            timeout_duration=30,
            exclude=[BusinessError],
            prefix=prefix,
            clock=clock,
        )

    return worker(clients[0]), worker(clients[1])


async def test_one_worker_opens_the_circuit_and_the_other_sees_it_open(
    workers: tuple[RedisCircuitBreaker, RedisCircuitBreaker],
) -> None:
    a, b = workers
    for _ in range(3):
        assert await a.allow("payments")
        await a.record_failure("payments", ConnectionError("down"))

    assert await b.state("payments") == "open"
    assert not await b.allow("payments")
    assert await b.allow("other")


async def test_failures_from_both_workers_add_up(
    workers: tuple[RedisCircuitBreaker, RedisCircuitBreaker],
) -> None:
    a, b = workers
    await a.record_failure("svc", ConnectionError())
    await b.record_failure("svc", ConnectionError())
    assert await a.allow("svc")

    await b.record_failure("svc", ConnectionError())

    assert not await a.allow("svc")


async def test_concurrent_failures_lose_no_update(
    clients: tuple[Redis, Redis], clock: Clock
) -> None:
    prefix = unique_name("test:concurrent") + ":"
    a, b = (
        RedisCircuitBreaker(c, fail_max=40, timeout_duration=30, prefix=prefix, clock=clock)
        for c in clients
    )
    await asyncio.gather(
        *(breaker.record_failure("svc", OSError()) for breaker in (a, b) for _ in range(19))
    )
    assert await a.state("svc") == "closed"

    await asyncio.gather(b.record_failure("svc", OSError()), a.record_failure("svc", OSError()))

    assert await a.state("svc") == "open"


async def test_exactly_one_worker_gets_the_half_open_trial(
    workers: tuple[RedisCircuitBreaker, RedisCircuitBreaker], clock: Clock
) -> None:
    a, b = workers
    for _ in range(3):
        await a.record_failure("svc", ConnectionError())
    clock.now += 30
    assert await b.state("svc") == "half_open"

    allowed = await asyncio.gather(*(w.allow("svc") for w in (a, b) for _ in range(10)))

    assert allowed.count(True) == 1


async def test_the_trial_of_one_worker_closes_the_circuit_for_all(
    workers: tuple[RedisCircuitBreaker, RedisCircuitBreaker], clock: Clock
) -> None:
    a, b = workers
    for _ in range(3):
        await a.record_failure("svc", ConnectionError())
    clock.now += 30
    assert await b.allow("svc")

    await b.record_success("svc")

    assert await a.state("svc") == "closed"
    assert await a.allow("svc")


async def test_a_failed_trial_opens_it_again_for_all(
    workers: tuple[RedisCircuitBreaker, RedisCircuitBreaker], clock: Clock
) -> None:
    a, b = workers
    for _ in range(3):
        await a.record_failure("svc", ConnectionError())
    clock.now += 30
    assert await b.allow("svc")

    await b.record_failure("svc", TimeoutError())

    assert await a.state("svc") == "open"
    clock.now += 29
    assert not await a.allow("svc")
    clock.now += 1
    assert await a.allow("svc")


async def test_excluded_errors_reset_the_count_and_closed_circuits_leave_no_key(
    workers: tuple[RedisCircuitBreaker, RedisCircuitBreaker], clients: tuple[Redis, Redis]
) -> None:
    a, b = workers
    await a.record_failure("svc", ConnectionError())
    await a.record_failure("svc", ConnectionError())
    key = f"{a.prefix}svc"
    assert await clients[0].exists(key)
    assert 0 < await clients[0].pttl(key) <= 91_000  # failures expire with the circuit

    await b.record_failure("svc", BusinessError("no such order"))

    assert not await clients[0].exists(key)
    await a.record_failure("svc", ConnectionError())
    assert await a.state("svc") == "closed"


async def test_without_redis_the_breaker_fails_open(
    clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as unused:  # a port nobody listens on once closed
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    no_retries = Retry(NoBackoff(), 0)
    client = Redis(host="127.0.0.1", port=port, socket_connect_timeout=2, retry=no_retries)
    breaker = RedisCircuitBreaker(client, fail_max=1, timeout_duration=30, clock=clock)
    try:
        await breaker.record_failure("svc", ConnectionError())
        assert await breaker.allow("svc")
        await breaker.record_success("svc")
    finally:
        await client.aclose()

    assert caplog.text.count("circuit breaker store unavailable") == 3
