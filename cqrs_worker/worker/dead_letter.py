"""Dead-lettering: the headers that say why, the sink protocol, and :class:`DeadLetterer`."""

from __future__ import annotations

import asyncio
import datetime
import logging
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

from cqrs_worker.errors import DecodeError, EventHandlingError, RetriesExhaustedError
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.stats import WorkerStats

__all__ = [
    "MAX_STACKTRACE_BYTES",
    "DeadLetterSink",
    "DeadLetterer",
    "Failure",
    "bounded_stacktrace",
    "dead_letter_headers",
]

logger = logging.getLogger(__name__)

PREFIX = "x-dlq-"
STACKTRACE = f"{PREFIX}exception-stacktrace"
#: The delayed retry stages a dead letter went through (``RETRY_TOPICS``), e.g. ``1s,30s``.
RETRY_STAGES = f"{PREFIX}retry-stages"
#: ``delivery.context`` key the delayed retrier puts the stages tried under.
STAGES_TRIED = "retry_stages_tried"
#: The most UTF-8 bytes the ``x-dlq-exception-stacktrace`` header holds.
MAX_STACKTRACE_BYTES = 8 * 1024
_MAX_MESSAGE = 2_000
_CUT = "\n[... {} bytes of traceback cut ...]\n"


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
    """The ``x-dlq-*`` headers: reason, exception (type, message, bounded stacktrace),
    attempts, failure times, worker, and the delayed retry stages it went through.

    The sink adds the origin (``x-dlq-original-topic``/``-partition``/``-offset``
    or ``x-dlq-original-queue``/``-exchange``/``-routing-key``).
    """
    error = failure.error
    now = datetime.datetime.now(datetime.UTC).isoformat()
    headers = {
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
        STACKTRACE: bounded_stacktrace(error),
    }
    stages = delivery.context.get(STAGES_TRIED)
    if stages:
        headers[RETRY_STAGES] = stages
    return headers


def bounded_stacktrace(error: BaseException, limit: int = MAX_STACKTRACE_BYTES) -> str:
    """``error``'s traceback (with its causes) as text of at most ``limit`` UTF-8 bytes.

    A longer one loses its middle: the top (where the handling started) and
    the bottom (the innermost frames and the exception itself) are what
    people read, and a broker header must stay small (RabbitMQ puts every
    header in one frame). The cut is marked with how many bytes it removed.
    """
    text = "".join(traceback.format_exception(error)).rstrip("\n")
    data = text.encode("utf-8", "backslashreplace")
    if len(data) <= limit:
        return text
    # The marker's length depends on the count it prints; budget for the longest.
    marker_room = len(_CUT.format(len(data)).encode())
    keep = max(limit - marker_room, 0)
    head_size = keep // 4
    tail_size = keep - head_size
    cut = len(data) - head_size - tail_size
    head = data[:head_size].decode("utf-8", "ignore")
    tail = data[len(data) - tail_size :].decode("utf-8", "ignore")
    return f"{head}{_CUT.format(cut)}{tail}"


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
        if isinstance(error, DecodeError):
            # Bad bytes, not a bug here: the reason says it all, a traceback would not help.
            logger.warning(
                "dead-lettering %s, malformed (%s: %s)",
                delivery.name or "a message",
                failure.reason,
                failure.error,
            )
        else:
            # The one line with the handler's traceback; each failed attempt
            # before it logged a WARNING without one.
            logger.error(
                "dead-lettering %s after %d attempt(s) (%s: %s: %s)",
                delivery.name or "a message",
                delivery.attempts,
                failure.reason,
                type(failure.error).__name__,
                failure.error,
                exc_info=failure.error,
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
                    delivery.name or "a message",
                    getattr(observer, "__qualname__", observer),
                    type(exc).__name__,
                    exc,
                )


def _root(error: BaseException) -> BaseException:
    """The handler's own exception rather than the mediator's wrapper."""
    if isinstance(error, EventHandlingError) and error.failures:
        return error.failures[0].exception
    return error
