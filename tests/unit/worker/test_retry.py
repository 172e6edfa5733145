"""``RetryPolicy``: backoff, jitter, permanent and retryable errors, per-handler policies."""

from __future__ import annotations

from typing import ClassVar

import pytest

from cqrs_worker.errors import EventHandlingError, HandlerFailure, PermanentError
from cqrs_worker.worker.retry import Retrier, RetryPolicy
from cqrs_worker.worker.stats import WorkerStats


def test_delays_grow_exponentially_up_to_the_cap() -> None:
    policy = RetryPolicy(initial_delay=0.1, max_delay=0.5, multiplier=2.0, jitter=0.0)

    assert [policy.delay(n) for n in range(1, 6)] == pytest.approx([0.1, 0.2, 0.4, 0.5, 0.5])


def test_jitter_stays_within_its_fraction() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=1.0, jitter=0.2)

    delays = [policy.delay(1) for _ in range(500)]

    assert min(delays) >= 0.8
    assert max(delays) <= 1.2
    assert max(delays) - min(delays) > 0.1  # it does spread


def test_permanent_errors_are_never_retried() -> None:
    policy = RetryPolicy(permanent=(KeyError,))

    assert policy.is_permanent(PermanentError("no"))
    assert policy.is_permanent(KeyError("k"))
    assert not policy.is_permanent(RuntimeError("try again"))


def test_only_retryable_types_are_retried_when_given() -> None:
    policy = RetryPolicy(retryable=(ConnectionError,))

    assert not policy.is_permanent(ConnectionResetError())
    assert policy.is_permanent(ValueError())


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"initial_delay": -1}, {"jitter": 1.5}, {"max_delay": -1}]
)
def test_invalid_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RetryPolicy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]  # numbers of the right fields


class PatientHandler:
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=10, initial_delay=0)


class ImpatientHandler:
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy(max_attempts=2, initial_delay=0)


class StrictHandler:
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy(initial_delay=0, permanent=(ValueError,))


def _decide(error: BaseException) -> tuple[RetryPolicy, bool]:
    retrier = Retrier(RetryPolicy(max_attempts=5, initial_delay=0), stats=WorkerStats())
    return retrier.decide(error)


def test_the_strictest_handler_policy_wins() -> None:
    error = EventHandlingError(
        object(),
        [
            HandlerFailure(PatientHandler, RuntimeError("a")),
            HandlerFailure(ImpatientHandler, RuntimeError("b")),
        ],
    )

    policy, permanent = _decide(error)

    assert policy.max_attempts == 2
    assert not permanent


def test_a_handler_policy_can_make_an_error_permanent() -> None:
    error = EventHandlingError(object(), [HandlerFailure(StrictHandler, ValueError("bad"))])

    assert _decide(error)[1] is True


def test_the_worker_policy_applies_to_handlers_without_their_own() -> None:
    error = EventHandlingError(object(), [HandlerFailure(object, RuntimeError("x"))])

    policy, permanent = _decide(error)

    assert policy.max_attempts == 5
    assert not permanent
