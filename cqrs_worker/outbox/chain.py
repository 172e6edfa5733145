"""A chain of relay cycles: up to ``depth`` in flight while batches come back full.

Each cycle is guarded: whatever it raises (a lost database connection shows
up as SQLAlchemy's errors, a bare ``ConnectionResetError`` or ``OSError`` from
the driver, a timeout) ends that cycle only. Its transaction is gone, so its
rows stay pending; the database is marked down on the cycle's readiness and
the relay pauses before the next chain.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import SQLAlchemyError

from cqrs_worker.brokers._failure import describe
from cqrs_worker.outbox.cycle import Cycle, InFlight, Outcome

__all__ = ["database_failure", "run_chain"]

logger = logging.getLogger(__name__)


async def run_chain(cycle: Cycle, depth: int, stop: asyncio.Event) -> Outcome:
    """Run cycles, up to ``depth`` at once, while batches come back full.

    Returns, with every cycle finished and their outcomes summed, once the
    chain runs dry: a batch short of ``batch_size``, a failure, or ``stop``.
    """
    running: list[asyncio.Task[Outcome]] = []
    previous: InFlight | None = None
    total = Outcome()
    try:
        while not stop.is_set():
            claimed: asyncio.Future[InFlight | None] = asyncio.get_running_loop().create_future()
            running.append(asyncio.create_task(_guarded(cycle, previous, claimed)))
            previous = await claimed  # None: the cycle ended before claiming
            while running and (running[0].done() or len(running) >= depth):
                total = _add(total, await running.pop(0))
            if previous is None or total.failed or previous.claimed < cycle.settings.batch_size:
                break
    finally:
        for outcome in await asyncio.gather(*running):
            total = _add(total, outcome)
    return total


async def _guarded(
    cycle: Cycle, previous: InFlight | None, claimed: asyncio.Future[InFlight | None]
) -> Outcome:
    try:
        return await cycle.run(previous=previous, on_claimed=claimed.set_result)
    except Exception as exc:
        reason = database_failure(exc)
        cycle.readiness.down("database", reason)
        # An outage is worth one line; anything else (a bug) its traceback too.
        logger.warning("outbox database error, retrying: %s", reason, exc_info=not _is_outage(exc))
        return Outcome(failed=True)
    finally:
        if not claimed.done():
            claimed.set_result(None)


def database_failure(exc: BaseException) -> str:
    """One line: SQLAlchemy's text carries the whole statement, the driver's error suffices."""
    orig = getattr(exc, "orig", None)
    return describe(orig if isinstance(orig, BaseException) else exc).splitlines()[0]


def _is_outage(exc: BaseException) -> bool:
    return isinstance(exc, SQLAlchemyError | OSError | TimeoutError) or (
        "connection" in type(exc).__name__.lower()
    )


def _add(a: Outcome, b: Outcome) -> Outcome:
    return Outcome(a.claimed + b.claimed, a.published + b.published, a.failed or b.failed)
