"""EventRegistry: event name -> event class, with conflicts refused."""

from __future__ import annotations

import pydantic
import pytest

from cqrs_worker.envelope import EventRegistry
from cqrs_worker.errors import ConfigurationError, EventNameConflictError
from cqrs_worker.events import DomainEvent, NotificationEvent
from cqrs_worker.maps import EventMap


class UserPayload(pydantic.BaseModel):
    user_id: str


class OrderPayload(pydantic.BaseModel):
    order_id: str


class UserJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class ImpostorJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "impostors"


class UserRenamed(DomainEvent):
    user_id: str


class OnAnything:
    async def handle(self, event: object) -> None:
        return None


def test_registers_a_class_under_its_default_name() -> None:
    registry = EventRegistry()
    registry.register(UserJoined)

    assert registry["UserJoined"] is UserJoined
    assert registry.get("UserJoined") is UserJoined
    assert list(registry) == ["UserJoined"]
    assert len(registry) == 1
    assert "UserJoined" in registry


def test_registers_a_parametrized_class_by_name() -> None:
    registry = EventRegistry()
    registry.register(NotificationEvent[UserPayload], name="UserLeft")
    registry.register(NotificationEvent[OrderPayload], name="OrderPlaced")

    assert registry["UserLeft"] is NotificationEvent[UserPayload]
    assert registry["OrderPlaced"] is NotificationEvent[OrderPayload]


def test_explicit_name_overrides_the_default() -> None:
    registry = EventRegistry()
    registry.register(UserJoined, name="UserJoinedV1")

    assert dict(registry) == {"UserJoinedV1": UserJoined}


def test_registering_the_same_class_twice_is_harmless() -> None:
    registry = EventRegistry()
    registry.register(UserJoined)
    registry.register(UserJoined)

    assert dict(registry) == {"UserJoined": UserJoined}


def test_two_classes_under_one_name_conflict() -> None:
    registry = EventRegistry()
    registry.register(UserJoined)

    with pytest.raises(EventNameConflictError) as caught:
        registry.register(ImpostorJoined)

    message = str(caught.value)
    assert "'UserJoined' is registered for both UserJoined and ImpostorJoined" in message
    assert isinstance(caught.value, ConfigurationError)
    assert registry["UserJoined"] is UserJoined


def test_two_parametrizations_under_one_name_conflict() -> None:
    registry = EventRegistry()
    registry.register(NotificationEvent[UserPayload], name="Changed")

    with pytest.raises(EventNameConflictError, match="NotificationEvent\\[OrderPayload\\]"):
        registry.register(NotificationEvent[OrderPayload], name="Changed")


def test_class_without_a_name_needs_one() -> None:
    registry = EventRegistry()

    with pytest.raises(ConfigurationError, match=r"has no default event_name.*pass name="):
        registry.register(NotificationEvent[UserPayload])


def test_unknown_name_is_absent() -> None:
    registry = EventRegistry()

    assert registry.get("Nope") is None
    assert registry.get("Nope", UserJoined) is UserJoined
    with pytest.raises(KeyError):
        registry["Nope"]


def test_from_event_map_registers_every_bound_broker_event() -> None:
    events = EventMap()
    events.bind(UserJoined, OnAnything)
    events.bind(NotificationEvent[OrderPayload], OnAnything, event_name="OrderPlaced")
    events.bind(UserRenamed, OnAnything)

    registry = EventRegistry.from_event_map(events)

    assert dict(registry) == {
        "UserJoined": UserJoined,
        "OrderPlaced": NotificationEvent[OrderPayload],
    }


def test_from_event_map_refuses_conflicting_names() -> None:
    events = EventMap()
    events.bind(UserJoined, OnAnything)
    events.bind(ImpostorJoined, OnAnything)

    with pytest.raises(EventNameConflictError):
        EventRegistry.from_event_map(events)
