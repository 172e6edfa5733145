"""Dead-lettering: the headers that say why, the sink protocol, and :class:`DeadLetterer`."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from cqrs_worker.errors import DecodeError, EventHandlingError, RetriesExhaustedError
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["DeadLetterSink", "DeadLetterer", "Failure", "dead_letter_headers"]

logger = logging.getLogger(__name__)

PREFIX = "x-dlq-"
_MAX_MESSAGE = 2_000


class Failure(Exception):
    """Why a delivery is being dead-lettered (carried to the sink)."""

    def __init__(self, reason: str, error: BaseException) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


class DeadLetterSink(Protocol):
    """Puts a delivery where people look at failures, with ``headers`` added.

    Returns once the dead-letter destination confirmed it; raises otherwise
    (the middleware tries again). Each transport has its own: Kafka publishes
    to ``<topic>.dlq``, RabbitMQ to the queue's dead-letter exchange.
    """

    async def send(self, delivery: Delivery, headers: Mapping[str, str], /) -> None: ...


def dead_letter_headers(delivery: Delivery, failure: Failure, worker_id: str) -> dict[str, str]:
    """The ``x-dlq-*`` headers: reason, exception, attempts, failure times, worker.

    The sink adds the origin (``x-dlq-original-topic``/``-partition``/``-offset``
    or ``x-dlq-original-queue``/``-exchange``/``-routing-key``).
    """
    error = failure.error
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {
        f"{PREFIX}reason": failure.reason,
        f"{PREFIX}exception-type": f"{type(error).__module__}.{type(error).__qualname__}",
        f"{PREFIX}exception-message": str(error)[:_MAX_MESSAGE],
        f"{PREFIX}attempts": str(delivery.attempts),
        f"{PREFIX}first-failure-at": (
            delivery.first_failure_at.isoformat() if delivery.first_failure_at else now
        ),
        f"{PREFIX}last-failure-at": (
            delivery.last_failure_at.isoformat() if delivery.last_failure_at else now
        ),
        f"{PREFIX}worker-id": worker_id,
    }


class DeadLetterer:
    """Sends a malformed or given-up delivery to the sink; returns once it confirmed.

    A failing publish is retried with backoff (``publish_retry_delay`` doubling
    up to ``publish_retry_max_delay``) for as long as it takes: the delivery
    stays unacknowledged meanwhile. ``observers`` are awaited after the sink
    confirmed (e.g. the inbox records the event as dead-lettered); their
    failures are logged, not retried.
    """

    def __init__(
        self,
        sink: DeadLetterSink,
        *,
        worker_id: str,
        stats: WorkerStats,
        publish_retry_delay: float = 1.0,
        publish_retry_max_delay: float = 30.0,
        observers: Sequence[Callable[[Delivery], Awaitable[None]]] = (),
    ) -> None:
        self._sink = sink
        self._observers = tuple(observers)
        self._worker_id = worker_id
        self._stats = stats
        self._delay = publish_retry_delay
        self._max_delay = publish_retry_max_delay

    async def __call__(
        self, delivery: Delivery, error: DecodeError | RetriesExhaustedError, /
    ) -> None:
        if isinstance(error, DecodeError):
            failure = Failure(error.reason, error)
        else:
            failure = Failure("handler-failed", _root(error.last))
        headers = dead_letter_headers(delivery, failure, self._worker_id)
        logger.error(
            "dead-lettering %s (%s: %s: %s)",
            delivery.event_name or "a message",
            failure.reason,
            type(failure.error).__name__,
            failure.error,
        )
        delay = self._delay
        while True:
            try:
                await self._sink.send(delivery, headers)
                break
            except Exception as exc:  # keep the message unacked and try again
                logger.warning(
                    "dead-letter publish failed (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self._max_delay, delay * 2)
        self._stats.dead_letter(delivery, failure.reason)
        for observer in self._observers:
            try:
                await observer(delivery)
            except Exception as exc:  # the message is dead-lettered; a redelivery repeats it
                logger.warning(
                    "after dead-lettering %s: %s failed (%s: %s)",
                    delivery.event_name or "a message",
                    getattr(observer, "__qualname__", observer),
                    type(exc).__name__,
                    exc,
                )


def _root(error: BaseException) -> BaseException:
    """The handler's own exception rather than the mediator's wrapper."""
    if isinstance(error, EventHandlingError) and error.failures:
        return error.failures[0].exception
    return error
