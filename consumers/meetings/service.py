"""The meetings service: UserJoined (Kafka) -> JoinMeeting -> a row and ParticipantAdded (outbox).

The event handler sends a command through the request mediator; the command
handler writes with the unit of work's session and emits ``ParticipantAdded``,
which the :class:`~cqrs_worker.inbox.UnitOfWork`'s emitter writes to the
outbox in the same transaction as the row and the inbox record. A redelivered
``UserJoined`` is acknowledged without running anything.
"""

from __future__ import annotations

import os

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from consumers.meetings.env import setting
from consumers.meetings.events import JoinMeeting, Participant, ParticipantAdded, UserJoined
from consumers.meetings.schema import Schema
from cqrs_worker import DefaultContainer, EventMap, RequestMap, RequestMediator, bootstrap
from cqrs_worker.brokers import AMQPMessageBroker
from cqrs_worker.events import Event
from cqrs_worker.inbox import Inbox, UnitOfWork
from cqrs_worker.outbox import EventProducer
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings


class OnUserJoined:
    """Turns the notification into a command of this service."""

    def __init__(self, mediator: RequestMediator) -> None:
        self.mediator = mediator

    async def handle(self, event: UserJoined) -> None:
        await self.mediator.send(
            JoinMeeting(user=event.payload.user, meeting=event.payload.meeting)
        )


class JoinMeetingHandler:
    """Adds the participant and tells the world, in the unit of work's transaction."""

    def __init__(self, session: AsyncSession, schema: Schema) -> None:
        self.session = session
        self.schema = schema
        self.events: list[Event] = []

    async def handle(self, command: JoinMeeting) -> None:
        await self.session.execute(
            sa.insert(self.schema.participants).values(
                meeting=command.meeting, user_id=command.user
            )
        )
        self.events.append(
            ParticipantAdded(
                topic=os.environ.get("MEETINGS_PARTICIPANTS_TOPIC", "participants"),
                partition_key=command.meeting,
                payload=Participant(user=command.user, meeting=command.meeting),
            )
        )


def build() -> Worker:
    """The worker (``cqrs-worker run consumers.meetings.service:build --factory``)."""
    schema = Schema()
    engine = create_async_engine(setting("MEETINGS_DATABASE_URL"))
    container = DefaultContainer()
    container.register_instance(Schema, schema)
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="meetings", table=schema.meetings_inbox),
        outbox=schema.outbox,
    )
    events = EventMap()
    events.bind(UserJoined, OnUserJoined)
    requests = RequestMap()
    requests.bind(JoinMeeting, JoinMeetingHandler)
    mediators = bootstrap(
        events=events, requests=requests, container=container, emitter=unit_of_work.emitter
    )
    return Worker(mediators.events, load_settings(), middlewares=[unit_of_work])


def relay() -> EventProducer:
    """The outbox relay to RabbitMQ.

    ``cqrs-worker relay consumers.meetings.service:relay --factory``
    """
    return EventProducer(
        create_async_engine(setting("MEETINGS_DATABASE_URL")),
        AMQPMessageBroker(
            setting("MEETINGS_AMQP"),
            exchange=os.environ.get("MEETINGS_EXCHANGE", "cqrs.events"),
        ),
        repository=Schema().outbox,
    )
