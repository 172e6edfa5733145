"""A meeting domain handled through the unit of work, and a harness around a pipeline.

``UserJoined`` (consumed) -> handler sends ``JoinMeeting`` -> its handler
inserts a participant row, emits ``ParticipantAdded`` (to the outbox) and
``SeatTaken`` (a domain event whose handler inserts a seat row). Knobs on
the :class:`Behaviour` make handlers fail after emitting, or always.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from cqrs_worker import (
    Command,
    DefaultContainer,
    DomainEvent,
    EnvelopeCodec,
    EventMap,
    EventRegistry,
    NotificationEvent,
    RequestMap,
    RequestMediator,
    bootstrap,
)
from cqrs_worker.brokers import InMemoryBroker, OutgoingMessage
from cqrs_worker.inbox import Inbox, UnitOfWork, UnitOfWorkSettings, inbox_table
from cqrs_worker.outbox import OutboxRepository, outbox_table
from cqrs_worker.worker.delayed_retry import DelayedRetrier
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryDeadLetterSink, InMemorySource
from cqrs_worker.worker.pipeline import build_pipeline
from cqrs_worker.worker.retry import RetryPolicy
from cqrs_worker.worker.retry_stages import RetryStage, stages_of
from cqrs_worker.worker.stats import WorkerStats

logger = logging.getLogger("tests.meetings")


class Joined(pydantic.BaseModel):
    user: str
    meeting: str


class UserJoined(NotificationEvent[Joined]):
    event_name: str = "UserJoined"
    topic: str = "users"


class ParticipantAdded(NotificationEvent[Joined]):
    event_name: str = "ParticipantAdded"
    topic: str = "participants"


class SeatTaken(DomainEvent):
    user: str
    meeting: str


class JoinMeeting(Command):
    user: str
    meeting: str


@dataclass
class Behaviour:
    """What handlers do besides their work: fail ``fail_times`` attempts after emitting.

    Only users in ``failing_users`` fail, when given.
    """

    fail_times: int = 0
    failures: int = 0
    failing_users: frozenset[str] | None = None
    sessions: list[tuple[str, int]] = field(default_factory=list)


class Tables:
    def __init__(self, metadata: sa.MetaData, suffix: str) -> None:
        self.participants = sa.Table(
            f"participants_{suffix}",
            metadata,
            sa.Column("user_id", sa.String(64), primary_key=True),
            sa.Column("meeting", sa.String(64), primary_key=True),
        )
        self.seats = sa.Table(
            f"seats_{suffix}",
            metadata,
            sa.Column("user_id", sa.String(64), primary_key=True),
        )
        self.inbox = inbox_table(metadata, name=f"inbox_{suffix}")
        self.outbox = outbox_table(metadata, name=f"outbox_{suffix}")


def build_domain(tables: Tables, behaviour: Behaviour) -> tuple[EventMap, RequestMap]:
    class OnUserJoined:
        def __init__(self, mediator: RequestMediator, session: AsyncSession) -> None:
            self.mediator = mediator
            self.session = session

        async def handle(self, event: UserJoined) -> None:
            behaviour.sessions.append(("event", id(self.session)))
            # A handler's own line: the log context must name this event (batches too).
            logger.debug("%s joined", event.payload.user, extra={"handling": str(event.event_id)})
            await self.mediator.send(
                JoinMeeting(user=event.payload.user, meeting=event.payload.meeting)
            )
            chosen = (
                behaviour.failing_users is None or event.payload.user in behaviour.failing_users
            )
            if chosen and behaviour.failures < behaviour.fail_times:
                behaviour.failures += 1
                raise RuntimeError("failing after the command emitted its events")

    class OnJoinMeeting:
        def __init__(self, session: AsyncSession) -> None:
            self.session = session
            self.events: list[Any] = []

        async def handle(self, command: JoinMeeting) -> None:
            behaviour.sessions.append(("command", id(self.session)))
            await self.session.execute(
                sa.insert(tables.participants).values(user_id=command.user, meeting=command.meeting)
            )
            joined = Joined(user=command.user, meeting=command.meeting)
            self.events.append(ParticipantAdded(payload=joined, partition_key=command.meeting))
            self.events.append(SeatTaken(user=command.user, meeting=command.meeting))

    class OnSeatTaken:
        def __init__(self, session: AsyncSession) -> None:
            self.session = session

        async def handle(self, event: SeatTaken) -> None:
            behaviour.sessions.append(("domain", id(self.session)))
            await self.session.execute(sa.insert(tables.seats).values(user_id=event.user))

    events = EventMap()
    events.bind(UserJoined, OnUserJoined)
    events.bind(SeatTaken, OnSeatTaken)
    requests = RequestMap()
    requests.bind(JoinMeeting, OnJoinMeeting)
    return events, requests


def joined(user: str, meeting: str = "m1", event_id: uuid.UUID | None = None) -> UserJoined:
    return UserJoined(
        event_id=event_id or uuid.uuid4(),
        payload=Joined(user=user, meeting=meeting),
        partition_key=user,
    )


class Restage:
    """A retry-stage sink that puts the copy back into the source at once (the delays
    themselves are tested on the brokers)."""

    source: InMemorySource | None = None

    def carried(self, delivery: Delivery, /) -> Mapping[str, str]:
        return {k: v for k, v in delivery.raw.headers.items() if k.startswith("x-retry-")}

    async def send(
        self, delivery: Delivery, stage: RetryStage, headers: Mapping[str, str], /
    ) -> None:
        assert self.source is not None
        raw = delivery.raw
        self.source.put(
            OutgoingMessage(raw.topic, raw.body, key=raw.key, headers={**raw.headers, **headers})
        )


@dataclass
class Harness:
    engine: AsyncEngine
    tables: Tables
    behaviour: Behaviour
    unit_of_work: UnitOfWork
    source: InMemorySource
    stats: WorkerStats
    dead_letters: InMemoryBroker

    @property
    def inbox(self) -> Inbox:
        assert self.unit_of_work.inbox is not None
        return self.unit_of_work.inbox

    def put(self, event: UserJoined) -> None:
        self.source.put(OutgoingMessage.from_event(event))

    async def count(self, table: sa.Table, *where: Any) -> int:
        async with self.engine.connect() as conn:
            query = sa.select(sa.func.count()).select_from(table).where(*where)
            return int((await conn.execute(query)).scalar_one())


@asynccontextmanager
async def harness(
    engine: AsyncEngine,
    suffix: str,
    *,
    behaviour: Behaviour | None = None,
    max_attempts: int = 3,
    retention: float | None = None,
    batch_size: int = 1,
    purge_interval: float = 60.0,
    retry_stages: tuple[float, ...] = (),
) -> AsyncIterator[Harness]:
    behaviour = behaviour or Behaviour()
    metadata = sa.MetaData()
    tables = Tables(metadata, suffix)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        container = DefaultContainer()
        unit_of_work = UnitOfWork(
            async_sessionmaker(engine, expire_on_commit=False),
            container=container,
            inbox=Inbox(consumer="meetings", table=tables.inbox),
            outbox=OutboxRepository(tables.outbox),
            settings=UnitOfWorkSettings(
                retention=None if retention is None else datetime.timedelta(seconds=retention),
                batch_size=batch_size,
                batch_concurrency=2,
                purge_interval=purge_interval,
            ),
        )
        events, requests = build_domain(tables, behaviour)
        mediators = bootstrap(
            events=events, requests=requests, container=container, emitter=unit_of_work.emitter
        )
        stats = WorkerStats()
        dead_letters = InMemoryBroker()
        await dead_letters.start()
        restage = Restage()
        delayed = DelayedRetrier(restage, stages_of(retry_stages), stats=stats)
        pipeline = build_pipeline(
            delayed=delayed if retry_stages else None,
            mediator=mediators.events,
            codec=EnvelopeCodec(EventRegistry.from_event_map(events)),
            dead_letters=InMemoryDeadLetterSink(dead_letters),
            retry=RetryPolicy(max_attempts=max_attempts, initial_delay=0.0, max_delay=0.0),
            stats=stats,
            worker_id="test",
            middlewares=[unit_of_work],
        )
        source = restage.source = InMemorySource(pipeline=pipeline, concurrency=8)
        await source.start()
        running = asyncio.create_task(source.run())
        try:
            yield Harness(engine, tables, behaviour, unit_of_work, source, stats, dead_letters)
        finally:
            await source.stop(5.0)
            await running
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
