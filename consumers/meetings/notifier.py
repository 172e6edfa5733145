"""The notifier: ParticipantAdded (RabbitMQ) -> a welcome row, exactly once (its own inbox)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from consumers.meetings.env import setting
from consumers.meetings.events import ParticipantAdded
from consumers.meetings.schema import Schema
from cqrs_worker import DefaultContainer, EventMap, bootstrap
from cqrs_worker.inbox import Inbox, UnitOfWork
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings


class Welcome:
    def __init__(self, session: AsyncSession, schema: Schema) -> None:
        self.session = session
        self.schema = schema

    async def handle(self, event: ParticipantAdded) -> None:
        await self.session.execute(
            sa.insert(self.schema.welcomes).values(
                user_id=event.payload.user, meeting=event.payload.meeting
            )
        )


def build() -> Worker:
    """The worker (``cqrs-worker run consumers.meetings.notifier:build --factory``)."""
    schema = Schema()
    engine = create_async_engine(setting("MEETINGS_DATABASE_URL"))
    container = DefaultContainer()
    container.register_instance(Schema, schema)
    # Same inbox table, another consumer name: each service records its own events.
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="notifier", table=schema.meetings_inbox),
    )
    events = EventMap()
    events.bind(ParticipantAdded, Welcome)
    mediator = bootstrap(events=events, container=container, emitter=unit_of_work.emitter).events
    return Worker(mediator, load_settings(), middlewares=[unit_of_work])
