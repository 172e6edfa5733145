"""How a saga moves: forward through its steps, backward through compensations.

Every move runs inside one transaction the caller holds (a delivery's unit
of work, or one the deadline check opens): the saga row's new state, the
local commands' writes, the outbox rows of remote requests and compensations
and, in a delivery, the inbox record of the reply that moved it. So a
redelivered reply finds its inbox record and changes nothing; a crash before
the commit leaves the saga where it was, and the move happens again whole.

A local step or compensation runs in a SAVEPOINT: when its handler raises,
only its own writes roll back and the saga records the failure in the same
transaction. An error that means the database is unreachable is not a
failure of the step: it propagates, the transaction rolls back, the delivery
is tried again.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Mapping
from typing import Any

import pydantic
from sqlalchemy.ext.asyncio import AsyncSession

from cqrs_worker.inbox.reachability import database_unreachable
from cqrs_worker.observability.saga_stats import SagaStats
from cqrs_worker.sagas.compensation import Compensations, Emit, Send, call_of
from cqrs_worker.sagas.definition import (
    Fallback,
    RemoteStep,
    SagaDefinition,
    SagaStatus,
    action_of,
)
from cqrs_worker.sagas.store import SagaRecord, utcnow

__all__ = ["SagaEngine"]

logger = logging.getLogger(__name__)


class SagaEngine:
    """Moves one locked saga record; the caller saves it and commits.

    ``send`` is the request mediator's ``send``, ``emit`` writes an event to
    the outbox of ``session``'s transaction.
    """

    def __init__(self, *, session: AsyncSession, send: Send, emit: Emit, stats: SagaStats) -> None:
        self._session = session
        self._send = send
        self._emit = emit
        self._stats = stats
        self._compensations = Compensations(session=session, send=send, emit=emit, stats=stats)

    async def forward(self, definition: SagaDefinition[Any], record: SagaRecord) -> None:
        """Run steps from ``record.step`` until one waits for a reply, all are done or one fails."""
        while record.status is SagaStatus.RUNNING and record.step < len(definition.steps):
            step = definition.steps[record.step]
            action = action_of(step, record.variant)
            call = call_of(definition, record, action.name)
            record.step_started_at = utcnow()
            if isinstance(action, RemoteStep):
                try:
                    # A request that cannot be built (or written) fails the step.
                    async with self._session.begin_nested():
                        await self._emit(action.request(call))
                except Exception as exc:
                    if database_unreachable(exc):
                        raise
                    await self.step_failed(definition, record, f"{type(exc).__name__}: {exc}")
                    continue
                record.deadline = (
                    None
                    if action.timeout is None
                    else record.step_started_at + datetime.timedelta(seconds=action.timeout)
                )
                return
            try:
                async with self._session.begin_nested():
                    response = await self._send(action.action(call))
            except Exception as exc:
                if database_unreachable(exc):
                    raise
                await self.step_failed(definition, record, f"{type(exc).__name__}: {exc}")
                continue
            self.step_done(definition, record, _result(response))
        if record.status is SagaStatus.RUNNING:
            record.status = SagaStatus.COMPLETED
            record.deadline = None
            logger.info("saga %s %s completed", definition.name, record.saga_id)

    def step_done(
        self,
        definition: SagaDefinition[Any],
        record: SagaRecord,
        result: Any,
        *,
        timed_out: bool = False,
    ) -> None:
        """Record the current step as finished (to compensate later) and move past it."""
        step = definition.steps[record.step]
        now = utcnow()
        if not timed_out:
            record.results = {**record.results, step.name: result}
            self._stats.step_finished(
                definition.name, step.name, (now - record.step_started_at).total_seconds()
            )
        record.steps = [
            *record.steps,
            {
                "index": record.step,
                "name": action_of(step, record.variant).name,
                "variant": record.variant,
                "compensated": False,
                "timed_out": timed_out,
                "started_at": record.step_started_at.isoformat(),
                "finished_at": now.isoformat(),
            },
        ]
        record.deadline = None
        if not timed_out:
            record.step += 1
            record.variant = 0

    async def step_failed(
        self, definition: SagaDefinition[Any], record: SagaRecord, error: str
    ) -> None:
        """The current step failed: its fallback next, or compensate what finished."""
        step = definition.steps[record.step]
        name = action_of(step, record.variant).name
        record.deadline = None
        if isinstance(step, Fallback) and record.variant == 0:
            logger.warning(
                "saga %s %s: step %s failed (%s); running its fallback %s",
                definition.name,
                record.saga_id,
                name,
                error,
                step.fallback.name,
            )
            record.variant = 1
            record.error = f"{name}: {error} (fallback {step.fallback.name} ran)"
            return
        logger.warning(
            "saga %s %s: step %s failed (%s); compensating",
            definition.name,
            record.saga_id,
            name,
            error,
        )
        record.error = f"{name}: {error}"
        record.status = SagaStatus.COMPENSATING
        await self.compensate(definition, record)

    async def compensate(self, definition: SagaDefinition[Any], record: SagaRecord) -> None:
        """Compensate the finished steps, last first (:mod:`cqrs_worker.sagas.compensation`)."""
        await self._compensations.run(definition, record)

    async def timed_out(self, definition: SagaDefinition[Any], record: SagaRecord) -> None:
        """The remote step waited past its deadline.

        Its request may have been applied (the reply may be on its way), so
        it is compensated as well: its compensation is sent like the others.
        """
        action = action_of(definition.steps[record.step], record.variant)
        self.step_done(definition, record, None, timed_out=True)
        await self.step_failed(
            definition, record, f"no reply within {getattr(action, 'timeout', 0)}s"
        )
        if record.status is SagaStatus.RUNNING:  # a fallback takes the step's place
            await self._compensations.abandon(definition, record, action)
            await self.forward(definition, record)


def _result(response: Any) -> Any:
    """A step's result as JSON-ready data."""
    if response is None:
        return None
    if isinstance(response, pydantic.BaseModel):
        return response.model_dump(mode="json")
    if isinstance(response, Mapping):
        return dict(response)
    return pydantic.TypeAdapter(Any).dump_python(response, mode="json")
