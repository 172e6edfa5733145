"""Timing each handling attempt: :func:`observe_attempts`."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cqrs_worker.observability.worker_stats import WorkerStats

if TYPE_CHECKING:
    from cqrs_worker.worker.delivery import Delivery

__all__ = ["observe_attempts"]


Attempt = Callable[["Delivery"], Awaitable[Any]]


def observe_attempts(attempt: Attempt, stats: WorkerStats) -> Attempt:
    """``attempt``, recorded in ``stats``: in flight while it runs, then its duration.

    Every attempt is observed, failed and timed-out ones too. Costs two
    ``perf_counter`` calls, a dict insert and delete and a histogram bucket
    increment per attempt; nothing here can raise into the delivery.
    """
    in_flight = stats.in_flight
    start, end = in_flight.start, in_flight.end
    observe = stats.durations.observe
    clock = time.perf_counter

    async def observed(delivery: Delivery) -> None:
        started = clock()
        start(delivery, started)
        try:
            await attempt(delivery)
        finally:
            end(delivery)
            observe(delivery.event.event_name, clock() - started)  # type: ignore[union-attr]  # decoded before any attempt

    return observed
