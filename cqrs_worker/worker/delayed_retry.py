"""Moving a delivery to its next delayed retry stage: :class:`DelayedRetrier` and its sink.

The pipeline calls :meth:`DelayedRetrier.move` when a delivery's in-place
attempts ran out. It either publishes the message to the next stage (and the
pipeline returns, so the original is acknowledged: only after the stage's
destination confirmed) or, permanent failure or last stage done, prepares
the delivery for the dead-letter sink: the attempts of every stage, the first
failure time and ``x-dlq-retry-stages``.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Mapping
from typing import Protocol

from cqrs_worker.errors import EventHandlingError, RetriesExhaustedError
from cqrs_worker.worker.dead_letter import STAGES_TRIED
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.retry_stages import (
    ATTEMPTS,
    DUE_AT,
    FIRST_FAILURE_AT,
    STAGE,
    RetryStage,
    StageState,
    due_at,
    next_stage,
)
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["DelayedRetrier", "RetryStageSink"]

logger = logging.getLogger(__name__)


class RetryStageSink(Protocol):
    """Puts a delivery where it comes back from after a stage's delay.

    :meth:`carried` returns the ``x-retry-*`` headers the delivery arrived
    with (each transport stores headers its own way). :meth:`send` returns once
    the destination confirmed the copy, with ``headers`` replacing those;
    it raises otherwise (the retrier tries again).
    """

    def carried(self, delivery: Delivery, /) -> Mapping[str, str]: ...

    async def send(
        self, delivery: Delivery, stage: RetryStage, headers: Mapping[str, str], /
    ) -> None: ...


class DelayedRetrier:
    """Decides between the next stage and the dead-letter sink, and publishes to the stage.

    A failing publish is retried with backoff (``publish_retry_delay``
    doubling up to ``publish_retry_max_delay``) for as long as it takes; the
    delivery stays unacknowledged meanwhile, so it is never lost.
    """

    def __init__(
        self,
        sink: RetryStageSink,
        stages: tuple[RetryStage, ...],
        *,
        stats: WorkerStats,
        publish_retry_delay: float = 1.0,
        publish_retry_max_delay: float = 30.0,
    ) -> None:
        self._sink = sink
        self._stages = stages
        self._stats = stats
        self._delay = publish_retry_delay
        self._max_delay = publish_retry_max_delay

    async def move(self, delivery: Delivery, error: RetriesExhaustedError) -> bool:
        """``True`` once the next stage has the message; ``False``: dead-letter it."""
        state = StageState.of(self._sink.carried(delivery))
        stage = next_stage(self._stages, state.stage, permanent=error.permanent)
        now = datetime.datetime.now(datetime.UTC)
        first = state.first_failure_at or delivery.first_failure_at or now
        attempts = state.attempts + delivery.attempts
        if stage is None:
            if state.stage:  # it went through stages: the dead letter tells all of them
                delivery.attempts = attempts
                delivery.first_failure_at = first
                tried = [s.label for s in self._stages[: state.stage]]
                delivery.context[STAGES_TRIED] = ",".join(tried)
            return False
        headers = {
            STAGE: str(stage.number),
            ATTEMPTS: str(attempts),
            FIRST_FAILURE_AT: first.isoformat(),
            DUE_AT: due_at(now, stage).isoformat(),
        }
        cause = error.last
        if isinstance(cause, EventHandlingError) and cause.failures:
            cause = cause.failures[0].exception  # the handler's own, not the mediator's wrapper
        logger.warning(
            "moving %s to retry stage %d (%s) after %d attempt(s) (%s: %s)",
            delivery.name or "a message",
            stage.number,
            stage.label,
            attempts,
            type(cause).__name__,
            cause,
        )
        delay = self._delay
        while True:
            try:
                await self._sink.send(delivery, stage, headers)
                break
            except Exception as exc:  # keep the message unacked and try again
                logger.warning(
                    "retry-stage publish failed (%s: %s); retrying in %.1fs",
                    type(exc).__name__,
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(self._max_delay, delay * 2)
        self._stats.delayed(delivery, stage.number)
        return True
