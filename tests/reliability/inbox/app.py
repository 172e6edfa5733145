"""A worker process for the inbox's reliability suites (R3, R6, R8).

``python -m cqrs_worker.cli run tests.reliability.inbox.app:build --factory``
with the usual ``CQRS_WORKER_*`` settings and:

``INBOX_RELIABILITY_DB``      SQLAlchemy URL of the database
``INBOX_RELIABILITY_SUFFIX``  suffix of the test's table names (:func:`tables`)
``INBOX_RELIABILITY_OUT``     topic the emitted ``ParticipantAdded`` events go to
``CQRS_WORKER_UNIT_OF_WORK_BATCH_SIZE``  per-event (1, the default) or per-batch
``INBOX_RELIABILITY_BATCH_HANDLER``      ``1``: the ``UserJoined`` handler defines
                              ``handle_batch`` (logging ``handle_batch of N`` per call)
``INBOX_RELIABILITY_BATCH_SECONDS``      how long each ``handle_batch`` call takes (default 0)

``UserJoined`` -> its handler sends ``JoinMeeting`` -> that handler inserts a
participant row (no unique key: a duplicate effect would show as a second
row) and emits ``ParticipantAdded`` to the outbox. Then, per the payload's
``fail``: ``"once"`` raises on the first attempt in this process, ``"always"``
on every attempt (so the event is dead-lettered), after the command emitted.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any, Literal

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from cqrs_worker import (
    Command,
    DefaultContainer,
    EventMap,
    NotificationEvent,
    RequestMap,
    RequestMediator,
    bootstrap,
)
from cqrs_worker.inbox import Inbox, UnitOfWork, inbox_table
from cqrs_worker.outbox import OutboxRepository, outbox_table
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings

logger = logging.getLogger("tests.reliability.inbox")


class Joined(pydantic.BaseModel):
    user: str
    fail: Literal["never", "once", "always"] = "never"


class UserJoined(NotificationEvent[Joined]):
    event_name: str = "UserJoined"
    topic: str = "users"


class ParticipantAdded(NotificationEvent[Joined]):
    event_name: str = "ParticipantAdded"
    topic: str = "participants"


class JoinMeeting(Command):
    user: str


@dataclass(frozen=True)
class Tables:
    participants: sa.Table
    inbox: sa.Table
    outbox: sa.Table


def tables(metadata: sa.MetaData, suffix: str) -> Tables:
    participants = sa.Table(
        f"rel_participants_{suffix}",
        metadata,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("user_id", sa.String(64), nullable=False),
    )
    return Tables(
        participants,
        inbox_table(metadata, name=f"rel_inbox_{suffix}"),
        outbox_table(metadata, name=f"rel_outbox_{suffix}"),
    )


async def build() -> Worker:
    # The tests count "already handled here" lines: duplicates log at DEBUG (a
    # storm would flood an INFO log), so this logger alone is turned up.
    logging.getLogger("cqrs_worker.inbox.unit_of_work").setLevel(logging.DEBUG)
    t = tables(sa.MetaData(), os.environ["INBOX_RELIABILITY_SUFFIX"])
    out_topic = os.environ["INBOX_RELIABILITY_OUT"]
    engine = create_async_engine(os.environ["INBOX_RELIABILITY_DB"], pool_size=10)
    failed_once: set[Any] = set()

    class OnUserJoined:
        def __init__(self, mediator: RequestMediator) -> None:
            self.mediator = mediator

        async def handle(self, event: UserJoined) -> None:
            await self.mediator.send(JoinMeeting(user=event.payload.user))
            fail = event.payload.fail
            if fail == "always" or (fail == "once" and event.event_id not in failed_once):
                failed_once.add(event.event_id)
                raise RuntimeError(f"failing {event.payload.user} after the command emitted")

    class OnJoinMeeting:
        def __init__(self, session: AsyncSession) -> None:
            self.session = session
            self.events: list[Any] = []

        async def handle(self, command: JoinMeeting) -> None:
            await self.session.execute(sa.insert(t.participants).values(user_id=command.user))
            self.events.append(
                ParticipantAdded(
                    topic=out_topic, partition_key=command.user, payload=Joined(user=command.user)
                )
            )

    class OnUsersJoined(OnUserJoined):
        async def handle_batch(self, events: list[UserJoined]) -> None:
            logger.info("handle_batch of %d", len(events))
            if seconds := float(os.environ.get("INBOX_RELIABILITY_BATCH_SECONDS", "0")):
                await asyncio.sleep(seconds)
            for event in events:
                await self.handle(event)

    container = DefaultContainer()
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="reliability", table=t.inbox),
        outbox=OutboxRepository(t.outbox),
    )
    events = EventMap()
    batch_handler = os.environ.get("INBOX_RELIABILITY_BATCH_HANDLER") == "1"
    events.bind(UserJoined, OnUsersJoined if batch_handler else OnUserJoined)
    requests = RequestMap()
    requests.bind(JoinMeeting, OnJoinMeeting)
    mediators = bootstrap(
        events=events, requests=requests, container=container, emitter=unit_of_work.emitter
    )
    return Worker(mediators.events, load_settings(), middlewares=[unit_of_work])
