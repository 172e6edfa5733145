"""The python-cqrs README's "Transactional Outbox" sample, on PostgreSQL.

Copied as written, with ``cqrs`` renamed to ``cqrs_worker`` and one slip of
the sample fixed: it sets ``self._repository`` and then calls
``self.repository``. ``do_some_logic`` adds a real row where the sample
writes ``session.add(...)``.
"""

from __future__ import annotations

import typing

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

import cqrs_worker
from cqrs_worker import requests
from tests.integration.python_cqrs.support import CloseMeetingRoomCommand


class Base(DeclarativeBase):
    pass


class ClosedRoom(Base):
    __tablename__ = "closed_rooms"
    meeting_room_id: Mapped[int] = mapped_column(primary_key=True)


# --- the sample ---
from sqlalchemy.ext.asyncio import session as sql_session  # noqa: E402

import cqrs_worker as cqrs  # noqa: E402
from cqrs_worker import events  # noqa: E402


def do_some_logic(
    meeting_room_id: int, session: sql_session.AsyncSession
):  # as the sample writes it
    """
    Make changes to the database
    """
    session.add(ClosedRoom(meeting_room_id=meeting_room_id))


class CloseMeetingRoomCommandHandler(requests.RequestHandler[CloseMeetingRoomCommand, None]):
    def __init__(self, repository: cqrs.SqlAlchemyOutboxedEventRepository):
        self._repository = repository
        self._events: typing.List[events.Event] = []  # noqa: UP006  # as the sample writes it

    @property
    def events(self):
        return self._events

    async def handle(self, request: CloseMeetingRoomCommand) -> None:
        async with self._repository as session:
            do_some_logic(request.meeting_room_id, session)
            self._repository.add(
                session,
                events.ECSTEvent(
                    event_name="MeetingRoomClosed",
                    payload=dict(message="foo"),
                ),
            )
            await self._repository.commit(session)


# --- end of the sample ---


async def test_transactional_outbox_sample(postgres_database: str) -> None:
    engine = create_async_engine(postgres_database)
    repository = cqrs.SqlAlchemyOutboxedEventRepository(async_sessionmaker(engine))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(repository.outbox.table.metadata.create_all)
        container = cqrs_worker.DefaultContainer()
        container.register_instance(cqrs.SqlAlchemyOutboxedEventRepository, repository)
        request_map = cqrs_worker.RequestMap()
        request_map.bind(CloseMeetingRoomCommand, CloseMeetingRoomCommandHandler)
        mediator = cqrs_worker.bootstrap_requests(requests=request_map, container=container)

        await mediator.send(CloseMeetingRoomCommand(meeting_room_id=7))

        outbox = repository.outbox.table
        async with engine.connect() as conn:
            rooms = (await conn.execute(sa.select(ClosedRoom.meeting_room_id))).scalars().all()
            rows = (await conn.execute(sa.select(outbox.c.event_name, outbox.c.topic))).all()
        assert rooms == [7]
        # One transaction: the room and the event; a topic-less event goes to the default topic.
        assert [tuple(row) for row in rows] == [("MeetingRoomClosed", "output_topic")]
    finally:
        await engine.dispose()


async def test_the_outbox_row_rolls_back_with_the_session(postgres_database: str) -> None:
    engine = create_async_engine(postgres_database)
    repository = cqrs.SqlAlchemyOutboxedEventRepository(async_sessionmaker(engine))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(Base.metadata.create_all)
            await conn.run_sync(repository.outbox.table.metadata.create_all)
        async with repository as session:
            do_some_logic(1, session)
            repository.add(session, events.ECSTEvent(event_name="Closed", payload={}))
            # no commit: leaving the block rolls back the room and the event alike

        async with engine.connect() as conn:
            counts = [
                (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar()
                for t in (ClosedRoom.__table__, repository.outbox.table)
            ]
        assert counts == [0, 0]
    finally:
        await engine.dispose()
