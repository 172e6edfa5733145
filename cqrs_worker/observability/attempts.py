"""Timing each handling attempt: :func:`observe_attempts`."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from cqrs_worker.observability.worker_stats import WorkerStats

if TYPE_CHECKING:
    from cqrs_worker.worker.delivery import Delivery

__all__ = ["attempt_recorder", "observe_attempts"]


Attempt = Callable[["Delivery"], Awaitable[Any]]


def observe_attempts(attempt: Attempt, stats: WorkerStats) -> Attempt:
    """``attempt``, recorded in ``stats``: in flight while it runs, then its duration.

    Every attempt is observed, failed and timed-out ones too. Costs two
    ``perf_counter`` calls, a dict insert and delete and a histogram bucket
    increment per attempt; nothing here can raise into the delivery. The
    pipeline observes a first attempt inline the same way
    (:func:`attempt_recorder`), one coroutine frame fewer.
    """
    running = stats.in_flight.running
    done = attempt_recorder(stats)
    clock = time.perf_counter

    async def observed(delivery: Delivery) -> None:
        running[delivery] = started = clock()
        try:
            await attempt(delivery)
        finally:
            done(delivery, started)

    return observed


def attempt_recorder(stats: WorkerStats) -> Callable[[Delivery, float], None]:
    """What ends the observation of an attempt of ``delivery`` that began at ``started``
    (``time.perf_counter``) and was put in ``stats.in_flight.running`` then: it leaves
    the in-flight set and its duration is counted under the event's name."""
    running = stats.in_flight.running
    durations = stats.durations
    counts_of, add_label, bounds = durations.counts, durations.add_label, durations.bounds
    clock = time.perf_counter

    def done(delivery: Delivery, started: float) -> None:
        del running[delivery]
        # Durations.observe, inline: a method call would be a sixth of this cost.
        elapsed = clock() - started
        name = delivery.event.event_name  # type: ignore[union-attr]  # decoded before any attempt
        counts = counts_of.get(name) or add_label(name)
        counts[bisect_left(bounds, elapsed)] += 1
        counts[-1] += elapsed

    return done
