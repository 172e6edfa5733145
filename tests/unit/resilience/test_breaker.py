"""InMemoryCircuitBreaker: closed -> open -> half-open -> closed/open, on an injected clock."""

from __future__ import annotations

import pytest

from cqrs_worker.resilience import CircuitBreaker, InMemoryCircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class BusinessError(Exception):
    pass


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def breaker(clock: Clock) -> InMemoryCircuitBreaker:
    return InMemoryCircuitBreaker(
        fail_max=3, timeout_duration=30, exclude=[BusinessError], clock=clock
    )


async def fail(breaker: CircuitBreaker, name: str, times: int) -> None:
    for _ in range(times):
        assert await breaker.allow(name)
        await breaker.record_failure(name, ConnectionError("down"))


async def test_fail_max_failures_in_a_row_open_the_circuit(
    breaker: InMemoryCircuitBreaker,
) -> None:
    await fail(breaker, "svc", 2)
    assert breaker.state("svc") == "closed"

    await fail(breaker, "svc", 1)

    assert breaker.state("svc") == "open"
    assert not await breaker.allow("svc")


async def test_a_success_resets_the_count(breaker: InMemoryCircuitBreaker) -> None:
    await fail(breaker, "svc", 2)
    await breaker.record_success("svc")
    await fail(breaker, "svc", 2)

    assert breaker.state("svc") == "closed"


async def test_circuits_are_kept_per_name(breaker: InMemoryCircuitBreaker) -> None:
    await fail(breaker, "a", 3)

    assert not await breaker.allow("a")
    assert await breaker.allow("b")


async def test_excluded_errors_count_as_successes(breaker: InMemoryCircuitBreaker) -> None:
    await fail(breaker, "svc", 2)
    await breaker.record_failure("svc", BusinessError("no such user"))
    await fail(breaker, "svc", 2)

    assert breaker.state("svc") == "closed"


async def test_after_the_timeout_one_trial_goes_through(
    breaker: InMemoryCircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, "svc", 3)
    clock.now += 29.9
    assert not await breaker.allow("svc")

    clock.now += 0.1
    assert breaker.state("svc") == "half_open"
    assert await breaker.allow("svc")  # the trial
    assert not await breaker.allow("svc")  # others wait for it
    assert breaker.state("svc") == "half_open"


async def test_a_successful_trial_closes_the_circuit(
    breaker: InMemoryCircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, "svc", 3)
    clock.now += 30
    assert await breaker.allow("svc")

    await breaker.record_success("svc")

    assert breaker.state("svc") == "closed"
    assert await breaker.allow("svc")
    await fail(breaker, "svc", 2)
    assert breaker.state("svc") == "closed"  # counting starts again from zero


async def test_a_failed_trial_opens_it_again_for_a_full_timeout(
    breaker: InMemoryCircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, "svc", 3)
    clock.now += 30
    assert await breaker.allow("svc")

    await breaker.record_failure("svc", TimeoutError())

    assert breaker.state("svc") == "open"
    clock.now += 29
    assert not await breaker.allow("svc")
    clock.now += 1
    assert await breaker.allow("svc")


async def test_a_trial_that_never_reports_is_given_up_after_a_timeout(
    breaker: InMemoryCircuitBreaker, clock: Clock
) -> None:
    await fail(breaker, "svc", 3)
    clock.now += 30
    assert await breaker.allow("svc")  # this trial's worker dies: nothing is recorded

    clock.now += 29
    assert not await breaker.allow("svc")
    clock.now += 1
    assert await breaker.allow("svc")  # a new trial


@pytest.mark.parametrize(
    ("fail_max", "timeout_duration", "message"),
    [(0, 30, "fail_max must be at least 1"), (3, 0, "timeout_duration must be positive")],
)
def test_settings_are_checked(fail_max: int, timeout_duration: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        InMemoryCircuitBreaker(fail_max=fail_max, timeout_duration=timeout_duration)
