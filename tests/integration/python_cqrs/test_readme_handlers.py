"""The python-cqrs README's handler samples, with ``cqrs`` renamed to ``cqrs_worker``.

Each sample is copied as written in ``python-cqrs-readme.md`` (its section
named above it), changed only by the rename and its own slips (missing
colons, the self-referencing generic ``EventHandler[UserJoinedEventHandler]``,
whose event type is ``UserJoined``). They talk to no broker or database.
"""

from __future__ import annotations

import typing

import cqrs_worker
from cqrs_worker import events, requests

# --- "Event Handlers" -------------------------------------------------------------------
from cqrs_worker.events import EventHandler  # the sample's own import
from tests.integration.python_cqrs.support import (
    CloseMeetingRoomCommand,
    JoinMeetingCommand,
    MeetingAPI,
    MeetingAPIProtocol,
    ReadMeetingQuery,
    ReadMeetingQueryResult,
    UserJoined,
    container_with,
)


class UserJoinedEventHandler(EventHandler[UserJoined]):
    def __init__(self, meetings_api: MeetingAPIProtocol) -> None:
        self._meetings_api = meetings_api

    async def handle(self, event: UserJoined) -> None:
        await self._meetings_api.notify_room(event.meeting_id, "New user joined!")


# --- "Command Handler" ------------------------------------------------------------------
from cqrs_worker.events.event import Event  # noqa: E402
from cqrs_worker.requests.request_handler import RequestHandler  # noqa: E402


class JoinMeetingCommandHandler(RequestHandler[JoinMeetingCommand, None]):
    def __init__(self, meetings_api: MeetingAPIProtocol) -> None:
        self._meetings_api = meetings_api
        self.events: list[Event] = []

    async def handle(self, request: JoinMeetingCommand) -> None:
        await self._meetings_api.join_user(request.user_id, request.meeting_id)


# --- "Query handler" --------------------------------------------------------------------
class ReadMeetingQueryHandler(RequestHandler[ReadMeetingQuery, ReadMeetingQueryResult]):
    def __init__(self, meetings_api: MeetingAPIProtocol) -> None:
        self._meetings_api = meetings_api
        self.events: list[Event] = []

    async def handle(self, request: ReadMeetingQuery) -> ReadMeetingQueryResult:
        link = await self._meetings_api.get_link(request.meeting_id)
        return ReadMeetingQueryResult(link=link, meeting_id=request.meeting_id)


# --- "Producing Notification/ECST Events" -----------------------------------------------
class CloseMeetingRoomCommandHandler(requests.RequestHandler[CloseMeetingRoomCommand, None]):
    def __init__(self) -> None:
        self._events: typing.List[events.Event] = []  # noqa: UP006  # as the sample writes it

    @property
    def events(self) -> typing.List[events.Event]:  # noqa: UP006
        return self._events

    async def handle(self, request: CloseMeetingRoomCommand) -> None:
        # some process
        event = events.NotificationEvent(
            event_topic="meeting_room_notifications",
            event_name="meeteng_room_closed",
            payload=dict(
                meeting_room_id=request.meeting_room_id,
            ),
        )
        self._events.append(event)


# --- the tests: our bootstrap runs each handler --------------------------------------------


async def test_event_handlers_sample() -> None:
    api = MeetingAPI()
    event_map = cqrs_worker.EventMap()
    event_map.bind(UserJoined, UserJoinedEventHandler)
    mediator = cqrs_worker.bootstrap_events(events=event_map, container=container_with(api))

    await mediator.send(UserJoined(user_id="ada", meeting_id="m-1"))

    assert api.calls == [("notify_room", "m-1", "New user joined!")]


async def test_command_handler_sample() -> None:
    api = MeetingAPI()
    request_map = cqrs_worker.RequestMap()
    request_map.bind(JoinMeetingCommand, JoinMeetingCommandHandler)
    mediator = cqrs_worker.bootstrap_requests(requests=request_map, container=container_with(api))

    assert await mediator.send(JoinMeetingCommand(user_id="ada", meeting_id="m-1")) is None
    assert api.calls == [("join_user", "ada", "m-1")]


async def test_query_handler_sample() -> None:
    api = MeetingAPI()
    request_map = cqrs_worker.RequestMap()
    request_map.bind(ReadMeetingQuery, ReadMeetingQueryHandler)
    mediator = cqrs_worker.bootstrap_requests(requests=request_map, container=container_with(api))

    result = await mediator.send(ReadMeetingQuery(meeting_id="m-1"))

    assert result == ReadMeetingQueryResult(link="https://meet.example/m-1", meeting_id="m-1")


async def test_producing_notification_events_sample() -> None:
    emitter = cqrs_worker.InMemoryEventEmitter()
    request_map = cqrs_worker.RequestMap()
    request_map.bind(CloseMeetingRoomCommand, CloseMeetingRoomCommandHandler)
    mediator = cqrs_worker.bootstrap_requests(requests=request_map, emitter=emitter)

    await mediator.send(CloseMeetingRoomCommand(meeting_room_id=7))

    [event] = emitter.events
    assert event.topic == "meeting_room_notifications"  # event_topic= is python-cqrs's spelling
    assert (event.event_name, event.payload) == ("meeteng_room_closed", {"meeting_room_id": 7})
