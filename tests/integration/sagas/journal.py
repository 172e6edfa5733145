"""A saga of three local steps that writes a journal row per action and compensation.

The journal's autoincrement id shows the order things happened in; the
context says which step fails, whether step ``b`` needs its fallback and
how often the compensation of ``a`` fails before it works.
"""

from __future__ import annotations

from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from consumers.orders.messages import CancelShipment, ShipOrder, Shipped
from cqrs_worker import Command, RequestMap
from cqrs_worker.sagas import Fallback, LocalStep, RemoteStep, SagaDefinition, StepCall


class Plan(pydantic.BaseModel):
    tag: str
    fail_at: str | None = None
    b_needs_fallback: bool = False
    undo_a_failures: int = 0


class Act(Command):
    tag: str
    step: str
    fail: bool = False


class Undo(Command):
    tag: str
    step: str
    failures: int = 0


def journal_table(metadata: sa.MetaData, suffix: str) -> sa.Table:
    return sa.Table(
        f"saga_journal_{suffix}",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("tag", sa.String(64), nullable=False),
        sa.Column("entry", sa.String(64), nullable=False),
    )


class Journal:
    """The journal table, and how often each ``undo`` was attempted (to fail the first ones)."""

    def __init__(self, table: sa.Table) -> None:
        self.table = table
        self.undo_attempts: dict[tuple[str, str], int] = {}


class ActHandler:
    def __init__(self, session: AsyncSession, journal: Journal) -> None:
        self.session = session
        self.journal = journal

    async def handle(self, command: Act) -> dict[str, str]:
        await self.session.execute(
            sa.insert(self.journal.table).values(tag=command.tag, entry=f"do {command.step}")
        )
        if command.fail:
            raise RuntimeError(f"{command.step} failed on purpose")
        return {"done": command.step}


class UndoHandler:
    def __init__(self, session: AsyncSession, journal: Journal) -> None:
        self.session = session
        self.journal = journal

    async def handle(self, command: Undo) -> None:
        await self.session.execute(
            sa.insert(self.journal.table).values(tag=command.tag, entry=f"undo {command.step}")
        )
        key = (command.tag, command.step)
        self.journal.undo_attempts[key] = attempt = self.journal.undo_attempts.get(key, 0) + 1
        if attempt <= command.failures:
            raise RuntimeError(f"undo {command.step} failed (attempt {attempt})")


def _act(step: str) -> LocalStep[Plan]:
    def action(call: StepCall[Plan]) -> Act:
        plan = call.context
        fail = plan.fail_at == step or (step == "b" and plan.b_needs_fallback)
        return Act(tag=plan.tag, step=step, fail=fail)

    def compensation(call: StepCall[Plan]) -> Undo:
        failures = call.context.undo_a_failures if step == "a" else 0
        return Undo(tag=call.context.tag, step=step, failures=failures)

    return LocalStep(name=step, action=action, compensation=compensation)


journal_saga = SagaDefinition(
    name="journal",
    context=Plan,
    steps=[
        _act("a"),
        Fallback(step=_act("b"), fallback=_act("b2")),
        _act("c"),
    ],
    compensation_attempts=2,
    compensation_backoff=0.01,
)


def _unbuildable(call: StepCall[Plan]) -> Any:
    raise ValueError(f"cannot build the request of {call.step}")


#: A local step, then a remote one whose request cannot be built.
broken_saga = SagaDefinition(
    name="broken",
    context=Plan,
    steps=[_act("a"), RemoteStep(name="r", request=_unbuildable, replies=(Shipped,))],
)


def _ship(address: str) -> Any:
    def request(call: StepCall[Plan]) -> ShipOrder:
        payload = call.message(order_id=call.context.tag, address=address)
        return ShipOrder(topic="wh", payload=payload)

    return request


def _cancel(call: StepCall[Plan]) -> CancelShipment:
    return CancelShipment(topic="wh", payload=call.message(order_id=call.context.tag))


#: A remote step with a remote fallback: another carrier when the first says no.
courier_saga = SagaDefinition(
    name="courier",
    context=Plan,
    steps=[
        Fallback(
            step=RemoteStep(
                name="ship",
                request=_ship("fast"),
                replies=(Shipped,),
                compensation=_cancel,
                timeout=600,
            ),
            fallback=RemoteStep(
                name="ship_slow", request=_ship("slow"), replies=(Shipped,), timeout=600
            ),
        )
    ],
)


def bind(requests: RequestMap) -> None:
    requests.bind(Act, ActHandler)
    requests.bind(Undo, UndoHandler)
