"""What the python-cqrs README's samples assume exists: the meetings API, requests, events.

The samples name these without defining them; each test module defines the
rest of its sample's surroundings itself.
"""

from __future__ import annotations

from typing import Protocol

import cqrs_worker as cqrs


class MeetingAPIProtocol(Protocol):
    async def notify_room(self, meeting_id: str, message: str) -> None: ...
    async def join_user(self, user_id: str, meeting_id: str) -> None: ...
    async def get_link(self, meeting_id: str) -> str: ...


class MeetingAPI:
    """A meetings API that remembers what it was asked."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, ...]] = []

    async def notify_room(self, meeting_id: str, message: str) -> None:
        self.calls.append(("notify_room", meeting_id, message))

    async def join_user(self, user_id: str, meeting_id: str) -> None:
        self.calls.append(("join_user", user_id, meeting_id))

    async def get_link(self, meeting_id: str) -> str:
        self.calls.append(("get_link", meeting_id))
        return f"https://meet.example/{meeting_id}"


class UserJoined(cqrs.DomainEvent):
    user_id: str
    meeting_id: str


class JoinMeetingCommand(cqrs.Request[None]):
    user_id: str
    meeting_id: str


class ReadMeetingQueryResult(cqrs.Response):
    link: str
    meeting_id: str


class ReadMeetingQuery(cqrs.Request[ReadMeetingQueryResult]):
    meeting_id: str


class CloseMeetingRoomCommand(cqrs.Request[None]):
    meeting_room_id: int


def container_with(api: MeetingAPI) -> cqrs.DefaultContainer:
    container = cqrs.DefaultContainer()
    container.register_instance(MeetingAPIProtocol, api)  # type: ignore[type-abstract]  # a Protocol is the key handlers ask for
    return container
