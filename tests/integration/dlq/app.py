"""A worker whose handler fails until it is "fixed", with the inbox on PostgreSQL.

``python -m cqrs_worker.cli run tests.integration.dlq.app:build --factory``
with the usual ``CQRS_WORKER_*`` settings (Kafka or RabbitMQ) and:

``DLQ_APP_DB``      SQLAlchemy URL of the database
``DLQ_APP_SUFFIX``  suffix of the test's table names (:func:`tables`)
``DLQ_APP_FIXED``   a path: while no file is there, events with ``fail=True`` raise

Each handled ``Signup`` inserts one effect row (no unique key: a second
handling of one event would show as a second row), in the unit of work.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cqrs_worker import DefaultContainer, EventMap, NotificationEvent, bootstrap
from cqrs_worker.inbox import Inbox, UnitOfWork, inbox_table
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings


class SignupPayload(pydantic.BaseModel):
    user: str
    fail: bool = False


class Signup(NotificationEvent[SignupPayload]):
    event_name: str = "Signup"
    topic: str = "signups"


@dataclass(frozen=True)
class Tables:
    effects: sa.Table
    inbox: sa.Table


def tables(metadata: sa.MetaData, suffix: str) -> Tables:
    effects = sa.Table(
        f"dlq_effects_{suffix}",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
    )
    return Tables(effects, inbox_table(metadata, name=f"dlq_inbox_{suffix}"))


class BrokenUntilFixed(RuntimeError):
    """The handler's bug, until the test "deploys the fix" (creates the file)."""


async def build() -> Worker:
    # The tests count "already handled here" lines (logged at DEBUG).
    logging.getLogger("cqrs_worker.inbox.unit_of_work").setLevel(logging.DEBUG)
    t = tables(sa.MetaData(), os.environ["DLQ_APP_SUFFIX"])
    fixed = Path(os.environ["DLQ_APP_FIXED"])

    def is_fixed() -> bool:  # a stat() is no blocking worth a thread here
        return fixed.exists()

    engine = create_async_engine(os.environ["DLQ_APP_DB"], pool_size=5)

    class OnSignup:
        def __init__(self, session: AsyncSession) -> None:
            self.session = session

        async def handle(self, event: Signup) -> None:
            await self.session.execute(sa.insert(t.effects).values(user_id=event.payload.user))
            if event.payload.fail and not is_fixed():
                raise BrokenUntilFixed(f"cannot sign up {event.payload.user} yet")

    container = DefaultContainer()
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="dlq-tests", table=t.inbox),
    )
    events = EventMap()
    events.bind(Signup, OnSignup)
    mediators = bootstrap(events=events, container=container, emitter=unit_of_work.emitter)
    return Worker(mediators.events, load_settings(), middlewares=[unit_of_work])
