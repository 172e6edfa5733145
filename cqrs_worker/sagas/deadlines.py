"""The deadline check: sagas whose deadline passed are moved, without a scheduler of our own.

A waiting remote step has a deadline (its ``timeout``); a compensation that
failed has one too (when to try again). The worker runs
:meth:`Sagas.watch <cqrs_worker.sagas.Sagas.watch>` beside its sources; every
``check_interval`` it takes the expired sagas one at a time, each in a
transaction of its own, locked with ``SELECT ... FOR UPDATE SKIP LOCKED`` on
PostgreSQL and MariaDB/MySQL, so several workers share the work and a reply
being handled for a saga is never raced (its row is locked, so it is skipped
and taken up on a later check if still due).
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from cqrs_worker.inbox.reachability import database_unreachable
from cqrs_worker.sagas.definition import SagaStatus
from cqrs_worker.sagas.store import SagaRecord, utcnow

if TYPE_CHECKING:
    from cqrs_worker.sagas.runtime import Sagas

__all__ = ["check_deadlines"]

logger = logging.getLogger(__name__)

_SKIP_LOCKED = ("postgresql", "mysql", "mariadb")


async def check_deadlines(sagas: Sagas) -> int:
    """Time out waiting steps and retry due compensations; how many sagas moved.

    At most ``sagas.settings.check_batch`` per call. A saga that cannot be
    moved (its definition is gone, a step's code raises) is parked as
    ``failed`` with the error, so it holds up no other.
    """
    moved = 0
    while moved < sagas.settings.check_batch:
        saga_id: uuid.UUID | None = None
        try:
            async with sagas.unit_of_work.transaction() as session:
                skip = session.get_bind().dialect.name in _SKIP_LOCKED
                due = await sagas.store.due(session, now=utcnow(), limit=1, skip_locked=skip)
                if not due:
                    break
                saga_id = due[0].saga_id
                await _expired(sagas, session, due[0])
        except Exception as exc:
            if saga_id is None or database_unreachable(exc):
                raise
            await _park(sagas, saga_id, exc)
        moved += 1
    return moved


async def _expired(sagas: Sagas, session: AsyncSession, record: SagaRecord) -> None:
    definition = sagas.definition(record.name)
    engine = await sagas.engine(session)
    if record.status is SagaStatus.RUNNING:
        logger.warning(
            "saga %s %s: step %s timed out",
            record.name,
            record.saga_id,
            definition.steps[record.step].name,
        )
        await engine.timed_out(definition, record)
    else:
        await engine.compensate(definition, record)
    await sagas.store.save(session, record)


async def _park(sagas: Sagas, saga_id: uuid.UUID, exc: Exception) -> None:
    error = f"{type(exc).__name__}: {exc}"
    logger.error("saga %s could not be moved; parked as failed: %s", saga_id, error, exc_info=exc)
    async with sagas.unit_of_work.transaction() as session:
        record = await sagas.store.load(session, saga_id)
        if record is not None:
            record.status, record.error, record.deadline = SagaStatus.FAILED, error, None
            await sagas.store.save(session, record)
