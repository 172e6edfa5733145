"""Compensations: the finished steps undone, last first, each exactly once.

Each compensation runs (local) or is written to the outbox (remote) in a
SAVEPOINT of the caller's transaction, and its step is marked compensated in
the same transaction: both commit, or neither. A local compensation that
raises is tried again after ``compensation_backoff`` seconds (doubling, via
the saga's deadline) up to ``compensation_attempts`` times; then the saga is
parked as ``failed`` with the error.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from cqrs_worker.events import WireEvent
from cqrs_worker.inbox.reachability import database_unreachable
from cqrs_worker.observability.saga_stats import SagaStats
from cqrs_worker.requests import Request
from cqrs_worker.sagas.definition import (
    LocalStep,
    RemoteStep,
    SagaDefinition,
    SagaStatus,
    StepCall,
    action_of,
)
from cqrs_worker.sagas.store import SagaRecord, utcnow

__all__ = ["Compensations", "Emit", "Send", "call_of"]

logger = logging.getLogger(__name__)

#: The request mediator's ``send``, and the outbox emitter's ``emit``.
Send = Callable[[Request], Any]
Emit = Callable[[WireEvent[Any]], Any]


class Compensations:
    """Undoes the finished steps of one locked saga record; the caller saves and commits."""

    def __init__(self, *, session: AsyncSession, send: Send, emit: Emit, stats: SagaStats) -> None:
        self._session = session
        self._send = send
        self._emit = emit
        self._stats = stats

    async def abandon(
        self, definition: SagaDefinition[Any], record: SagaRecord, action: Any
    ) -> None:
        """Compensate a timed-out step now that its fallback replaces it.

        Its late reply will be ignored (replies name the variant's step), so
        whatever it did is undone now, whether the saga completes or not.
        """
        steps = [dict(entry) for entry in record.steps]
        entry = steps[-1]
        if action.compensation is not None:
            try:
                async with self._session.begin_nested():
                    await self._emit(action.compensation(call_of(definition, record, action.name)))
            except Exception as exc:
                if database_unreachable(exc):
                    raise
                # Left for the saga's compensation, should it compensate.
                logger.warning(
                    "saga %s %s: the compensation of %s could not be sent (%s: %s)",
                    definition.name,
                    record.saga_id,
                    action.name,
                    type(exc).__name__,
                    exc,
                )
                return
        entry["compensated"] = True
        record.steps = steps

    async def run(self, definition: SagaDefinition[Any], record: SagaRecord) -> None:
        """Compensate the finished steps, last first, each once; park as ``failed`` when one
        keeps failing."""
        record.status = SagaStatus.COMPENSATING
        record.deadline = None
        steps = [dict(entry) for entry in record.steps]
        try:
            for entry in reversed(steps):
                if entry["compensated"]:
                    continue
                action = action_of(definition.steps[entry["index"]], entry["variant"])
                started = utcnow()
                record.step_started_at = started
                if action.compensation is not None:
                    call = call_of(definition, record, action.name)
                    if not await self._compensation(definition, record, action, call):
                        return
                entry["compensated"] = True
                record.attempts = 0
                self._stats.step_finished(
                    definition.name,
                    f"{action.name}:compensation",
                    (utcnow() - started).total_seconds(),
                )
        finally:
            record.steps = steps
        record.status = SagaStatus.COMPENSATED
        logger.info("saga %s %s compensated", definition.name, record.saga_id)

    async def _compensation(
        self,
        definition: SagaDefinition[Any],
        record: SagaRecord,
        action: LocalStep[Any] | RemoteStep[Any],
        call: StepCall[Any],
    ) -> bool:
        """Run (local) or send (remote) one compensation in a savepoint; ``False`` if it failed."""
        compensation: Any = action.compensation
        try:
            async with self._session.begin_nested():
                if isinstance(action, RemoteStep):
                    await self._emit(compensation(call))
                else:
                    await self._send(compensation(call))
        except Exception as exc:
            if database_unreachable(exc):
                raise
            record.attempts += 1
            record.error = f"compensating {action.name}: {type(exc).__name__}: {exc}"
            if record.attempts >= definition.compensation_attempts:
                record.status = SagaStatus.FAILED
                logger.error(
                    "saga %s %s failed: %s (after %d attempts; `cqrs-worker sagas retry %s`)",
                    definition.name,
                    record.saga_id,
                    record.error,
                    record.attempts,
                    record.saga_id,
                )
            else:
                delay = definition.compensation_backoff * 2 ** (record.attempts - 1)
                record.deadline = utcnow() + datetime.timedelta(seconds=delay)
                logger.warning(
                    "saga %s %s: %s; trying again in %.1fs",
                    definition.name,
                    record.saga_id,
                    record.error,
                    delay,
                )
            return False
        return True


def call_of(definition: SagaDefinition[Any], record: SagaRecord, step: str) -> StepCall[Any]:
    """``step`` is the running variant's own name: a reply must name it, so a late reply
    of a step its fallback replaced is told apart."""
    return StepCall(
        saga_id=record.saga_id,
        step=step,
        context=definition.context.model_validate(record.context),
        results=record.results,
    )
