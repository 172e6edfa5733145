"""RequestMap (one handler per request) and EventMap (many per event, known by name)."""

from __future__ import annotations

import pydantic
import pytest

from cqrs_worker.errors import ConfigurationError, HandlerAlreadyBoundError
from cqrs_worker.events import DomainEvent, ECSTEvent, NotificationEvent
from cqrs_worker.maps import EventMap, RequestMap, event_name_of, topic_of
from cqrs_worker.requests import Command, Query, Request


class CreateUser(Command):
    name: str


class GetUser(Query):
    user_id: str


class CreateUserHandler:
    async def handle(self, request: CreateUser) -> None:
        return None


class OtherCreateUserHandler:
    async def handle(self, request: CreateUser) -> None:
        return None


class GetUserHandler:
    async def handle(self, request: GetUser) -> None:
        return None


class UserPayload(pydantic.BaseModel):
    user_id: str


class UserJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class UserState(ECSTEvent[UserPayload]):
    event_name: str = "UserState"


class UserRenamed(DomainEvent):
    user_id: str


class FirstHandler:
    async def handle(self, event: UserRenamed) -> None:
        return None


class SecondHandler:
    async def handle(self, event: UserRenamed) -> None:
        return None


def test_command_and_query_are_requests() -> None:
    assert issubclass(Command, Request)
    assert issubclass(Query, Request)
    assert isinstance(CreateUser(name="ann"), Request)


def test_request_map_binds_one_handler_per_request() -> None:
    requests = RequestMap()
    requests.bind(CreateUser, CreateUserHandler)
    requests.bind(GetUser, GetUserHandler)

    assert requests[CreateUser] is CreateUserHandler
    assert requests[GetUser] is GetUserHandler
    assert list(requests) == [CreateUser, GetUser]
    assert len(requests) == 2


def test_request_map_rejects_a_second_binding() -> None:
    requests = RequestMap()
    requests.bind(CreateUser, CreateUserHandler)

    with pytest.raises(HandlerAlreadyBoundError) as caught:
        requests.bind(CreateUser, OtherCreateUserHandler)

    message = str(caught.value)
    assert "CreateUser is already bound to CreateUserHandler" in message
    assert "remove one of the bind() calls" in message
    assert isinstance(caught.value, ConfigurationError)
    assert requests[CreateUser] is CreateUserHandler, "the first binding stays"


def test_request_map_rejects_rebinding_the_same_handler() -> None:
    requests = RequestMap()
    requests.bind(CreateUser, CreateUserHandler)

    with pytest.raises(HandlerAlreadyBoundError):
        requests.bind(CreateUser, CreateUserHandler)


def test_event_map_keeps_several_handlers_in_bind_order() -> None:
    events = EventMap()
    events.bind(UserRenamed, SecondHandler)
    events.bind(UserRenamed, FirstHandler)

    assert events[UserRenamed] == (SecondHandler, FirstHandler)
    assert list(events) == [UserRenamed]
    assert len(events) == 1


def test_event_map_rejects_the_same_handler_twice_for_one_event() -> None:
    events = EventMap()
    events.bind(UserRenamed, FirstHandler)

    with pytest.raises(HandlerAlreadyBoundError, match="FirstHandler is already bound"):
        events.bind(UserRenamed, FirstHandler)
    assert events[UserRenamed] == (FirstHandler,)


def test_event_map_records_broker_events_by_their_default_name() -> None:
    events = EventMap()
    events.bind(UserJoined, FirstHandler)
    events.bind(UserState, FirstHandler)
    events.bind(UserRenamed, FirstHandler)

    assert events.names() == {UserJoined: "UserJoined", UserState: "UserState"}


def test_event_map_names_a_parametrized_event_with_event_name() -> None:
    events = EventMap()
    events.bind(NotificationEvent[UserPayload], FirstHandler, event_name="UserJoinedV2")

    assert events.names() == {NotificationEvent[UserPayload]: "UserJoinedV2"}


def test_event_map_skips_naming_a_parametrized_event_without_a_name() -> None:
    events = EventMap()
    events.bind(NotificationEvent[UserPayload], FirstHandler)

    assert events.names() == {}
    assert events[NotificationEvent[UserPayload]] == (FirstHandler,)


def test_event_name_is_refused_for_domain_events() -> None:
    events = EventMap()

    with pytest.raises(ConfigurationError, match="applies to NotificationEvent/ECSTEvent"):
        events.bind(UserRenamed, FirstHandler, event_name="UserRenamed")


def test_names_returns_a_copy() -> None:
    events = EventMap()
    events.bind(UserJoined, FirstHandler)

    names = dict(events.names())
    names.clear()

    assert events.names() == {UserJoined: "UserJoined"}


def test_class_defaults_give_event_name_and_topic() -> None:
    assert event_name_of(UserJoined) == "UserJoined"
    assert topic_of(UserJoined) == "users"
    assert topic_of(UserState) is None
    assert event_name_of(NotificationEvent[UserPayload]) is None
    assert event_name_of(UserRenamed) is None
