"""Retrying a failed delivery in place: :class:`RetryPolicy` and the :class:`Retrier`."""

from __future__ import annotations

import datetime
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from cqrs_worker.errors import (
    EventHandlingError,
    HandlerTimeoutError,
    PermanentError,
    RetriesExhaustedError,
)
from cqrs_worker.middleware import CallNext
from cqrs_worker.worker.backoff import backoff
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["Retrier", "RetryPolicy"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often, and how far apart, a failing delivery is tried.

    Attempt ``n`` (1-based) that fails waits
    ``min(max_delay, initial_delay * multiplier ** (n - 1))``, spread by
    +/- ``jitter`` (a fraction), before attempt ``n + 1``. ``permanent``
    exception types are never retried (nor is
    :class:`~cqrs_worker.errors.PermanentError`); when ``retryable`` is given,
    only those types are retried. A handler class may override the worker's
    policy with a ``retry_policy`` class attribute.
    """

    max_attempts: int = 5
    initial_delay: float = 0.2
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.2
    permanent: tuple[type[BaseException], ...] = ()
    retryable: tuple[type[BaseException], ...] | None = None

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("RetryPolicy.max_attempts must be at least 1")
        if self.initial_delay < 0 or self.max_delay < 0 or not 0 <= self.jitter <= 1:
            raise ValueError("RetryPolicy delays must be >= 0 and jitter within [0, 1]")

    def delay(self, attempt: int) -> float:
        base = min(self.max_delay, self.initial_delay * self.multiplier ** (attempt - 1))
        return base * (1 + self.jitter * (2 * random.random() - 1))

    def is_permanent(self, exc: BaseException) -> bool:
        if isinstance(exc, (PermanentError, *self.permanent)):
            return True
        return self.retryable is not None and not isinstance(exc, self.retryable)


def _failures(exc: BaseException) -> Iterable[tuple[type[Any] | None, BaseException]]:
    if isinstance(exc, EventHandlingError):
        return ((f.handler, f.exception) for f in exc.failures)
    return ((None, exc),)


def _describe(exc: BaseException) -> str:
    """``Handler: Type: message`` of each failing handler (or ``Type: message``)."""
    return ", ".join(
        f"{handler.__qualname__}: {type(error).__name__}: {error}"
        if handler is not None
        else f"{type(error).__name__}: {error}"
        for handler, error in _failures(exc)
    )


class Retrier:
    """Tries a delivery again after a failed attempt, until it succeeds or the policy gives up.

    The pipeline runs the first attempt itself (the common case costs nothing
    here) and hands a failure to :meth:`recover`, which waits, runs ``attempt``
    again and so on; it returns after a successful attempt and raises
    :class:`~cqrs_worker.errors.RetriesExhaustedError` when the failure is
    permanent or the attempts are used up. ``delivery.attempts`` counts the
    attempts made, the first included.
    """

    def __init__(self, policy: RetryPolicy, *, stats: WorkerStats) -> None:
        self._policy = policy
        self._stats = stats

    async def recover(self, delivery: Delivery, error: Exception, attempt: CallNext) -> None:
        while True:
            now = datetime.datetime.now(datetime.UTC)
            delivery.first_failure_at = delivery.first_failure_at or now
            delivery.last_failure_at = now
            policy, permanent = self.decide(error)
            if permanent or delivery.attempts >= policy.max_attempts:
                raise RetriesExhaustedError(
                    delivery.attempts, error, permanent=permanent
                ) from error
            delay = policy.delay(delivery.attempts)
            self._stats.retry(
                delivery, "timeout" if isinstance(error, HandlerTimeoutError) else "error"
            )
            # One line per retried attempt and no traceback: the traceback is
            # logged once, with the outcome (the dead-letter line).
            logger.warning(
                "attempt %d of %s failed (%s); retrying in %.2fs",
                delivery.attempts,
                delivery.name,
                _describe(error),
                delay,
            )
            # Holding no concurrency slot meanwhile (worker/backoff.py).
            await backoff(delay)
            delivery.attempts += 1
            try:
                await attempt(delivery)
                return
            except Exception as exc:
                error = exc

    def decide(self, exc: BaseException) -> tuple[RetryPolicy, bool]:
        """The strictest policy among the failing handlers, and whether any failure is final."""
        policy = self._policy
        permanent = False
        for handler, error in _failures(exc):
            own: RetryPolicy = getattr(handler, "retry_policy", None) or self._policy
            if own.max_attempts < policy.max_attempts:
                policy = own
            permanent = permanent or own.is_permanent(error)
        return policy, permanent
