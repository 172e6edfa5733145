"""EventMediator: every bound handler runs; failures are collected; follow-ups dispatched."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from cqrs_worker.container import DefaultContainer
from cqrs_worker.emitter import InMemoryEventEmitter
from cqrs_worker.errors import (
    ConfigurationError,
    DispatchError,
    EventCycleError,
    EventHandlingError,
)
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import DomainEvent, Event, NotificationEvent
from cqrs_worker.maps import EventMap
from cqrs_worker.middleware import CallNext


class Journal:
    def __init__(self) -> None:
        self.entries: list[str] = []


class UserPayload(pydantic.BaseModel):
    user_id: str


class UserJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class WelcomeSent(NotificationEvent[UserPayload]):
    event_name: str = "WelcomeSent"
    topic: str = "mail"


class UserRenamed(DomainEvent):
    user_id: str


class ProfileUpdated(DomainEvent):
    user_id: str


class Ping(DomainEvent):
    pass


class Pong(DomainEvent):
    pass


class Unbound(DomainEvent):
    pass


class RecordRenamed:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events: list[Event] = []

    async def handle(self, event: UserRenamed) -> None:
        self.journal.entries.append(f"record {event.user_id}")
        self.events.append(ProfileUpdated(user_id=event.user_id))


class FailOnRenamed:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: UserRenamed) -> None:
        self.journal.entries.append("fail")
        raise ValueError(f"cannot rename {event.user_id}")


class AlsoFailOnRenamed:
    async def handle(self, event: UserRenamed) -> None:
        raise KeyError("second failure")


class NotifyRenamed:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events: list[Event] = []

    async def handle(self, event: UserRenamed) -> None:
        self.journal.entries.append(f"notify {event.user_id}")
        self.events.append(WelcomeSent(payload=UserPayload(user_id=event.user_id)))


class OnProfileUpdated:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: ProfileUpdated) -> None:
        self.journal.entries.append(f"profile {event.user_id}")


class OnUserJoined:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events: list[Event] = []

    async def handle(self, event: UserJoined) -> None:
        self.journal.entries.append(f"joined {event.payload.user_id}")
        self.events.append(UserRenamed(user_id=event.payload.user_id))


class OnPing:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events = [Pong()]

    async def handle(self, event: Ping) -> None:
        self.journal.entries.append("ping")


class OnPong:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events = [Ping()]

    async def handle(self, event: Pong) -> None:
        self.journal.entries.append("pong")


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def emitter() -> InMemoryEventEmitter:
    return InMemoryEventEmitter()


def build(
    journal: Journal,
    emitter: InMemoryEventEmitter | None,
    *bindings: tuple[type[Event], type[Any]],
    **options: Any,
) -> EventMediator:
    container = DefaultContainer()
    container.register_instance(Journal, journal)
    events = EventMap()
    for event_type, handler_type in bindings:
        events.bind(event_type, handler_type)
    return EventMediator(events, container, emitter=emitter, **options)


async def test_every_bound_handler_runs_in_bind_order(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(
        journal,
        emitter,
        (UserRenamed, NotifyRenamed),
        (UserRenamed, RecordRenamed),
        (ProfileUpdated, OnProfileUpdated),
    )

    await mediator.send(UserRenamed(user_id="u-1"))

    assert journal.entries == ["notify u-1", "record u-1", "profile u-1"]
    assert [type(event) for event in emitter.events] == [WelcomeSent]


async def test_event_without_handlers_is_ignored(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(journal, emitter, (UserRenamed, RecordRenamed))

    await mediator.send(Unbound())

    assert journal.entries == []
    assert list(emitter.events) == []


async def test_broker_event_runs_its_handlers_and_their_follow_ups(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(
        journal,
        emitter,
        (UserJoined, OnUserJoined),
        (UserRenamed, RecordRenamed),
        (ProfileUpdated, OnProfileUpdated),
    )

    await mediator.send(UserJoined(payload=UserPayload(user_id="u-1")))

    assert journal.entries == ["joined u-1", "record u-1", "profile u-1"]
    assert list(emitter.events) == [], "the received event is not emitted again"


async def test_all_handlers_run_when_one_raises(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(
        journal,
        emitter,
        (UserRenamed, FailOnRenamed),
        (UserRenamed, NotifyRenamed),
        (UserRenamed, AlsoFailOnRenamed),
        (UserRenamed, RecordRenamed),
        (ProfileUpdated, OnProfileUpdated),
    )
    event = UserRenamed(user_id="u-1")

    with pytest.raises(EventHandlingError) as caught:
        await mediator.send(event)

    error = caught.value
    assert journal.entries == ["fail", "notify u-1", "record u-1"], "every handler ran"
    assert [failure.handler for failure in error.failures] == [FailOnRenamed, AlsoFailOnRenamed]
    assert isinstance(error.failures[0].exception, ValueError)
    assert isinstance(error.failures[1].exception, KeyError)
    assert error.__cause__ is error.failures[0].exception
    assert error.event is event
    assert "2 handler(s) of UserRenamed failed" in str(error)
    assert "FailOnRenamed: ValueError: cannot rename u-1" in str(error)
    assert "AlsoFailOnRenamed: KeyError" in str(error)
    assert isinstance(error, DispatchError)


async def test_nothing_emitted_is_dispatched_when_a_handler_fails(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(
        journal,
        emitter,
        (UserRenamed, NotifyRenamed),
        (UserRenamed, RecordRenamed),
        (UserRenamed, FailOnRenamed),
        (ProfileUpdated, OnProfileUpdated),
    )

    with pytest.raises(EventHandlingError):
        await mediator.send(UserRenamed(user_id="u-1"))

    assert "profile u-1" not in journal.entries
    assert list(emitter.events) == []


async def test_handler_that_cannot_be_built_is_a_failure_too(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    class NeedsAString:
        def __init__(self, name: str) -> None:
            self.name = name

        async def handle(self, event: UserRenamed) -> None:
            raise AssertionError("never built")

    mediator = build(journal, emitter, (UserRenamed, NeedsAString), (UserRenamed, RecordRenamed))

    with pytest.raises(EventHandlingError) as caught:
        await mediator.send(UserRenamed(user_id="u-1"))

    assert [failure.handler for failure in caught.value.failures] == [NeedsAString]
    assert journal.entries == ["record u-1"]


async def test_events_emitting_each_other_stop_at_the_depth_limit(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(journal, emitter, (Ping, OnPing), (Pong, OnPong), max_depth=3)

    with pytest.raises(EventCycleError, match="levels deep"):
        await mediator.send(Ping())

    # Depth 0 (the event sent) to max_depth inclusive ran; the next level was refused.
    assert journal.entries == ["ping", "pong", "ping", "pong"]


async def test_a_wire_event_emitted_without_an_emitter_is_a_configuration_error(
    journal: Journal,
) -> None:
    mediator = build(journal, None, (UserRenamed, NotifyRenamed))

    with pytest.raises(ConfigurationError) as caught:
        await mediator.send(UserRenamed(user_id="u-1"))

    assert "emitted WelcomeSent but no EventEmitter is configured" in str(caught.value)
    assert "pass emitter=" in str(caught.value)


async def test_dispatch_emitted_routes_domain_and_wire_events(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(journal, emitter, (ProfileUpdated, OnProfileUpdated))
    welcome = WelcomeSent(payload=UserPayload(user_id="u-9"))

    await mediator.dispatch_emitted([ProfileUpdated(user_id="u-9"), welcome])

    assert journal.entries == ["profile u-9"]
    assert list(emitter.events) == [welcome]


async def test_middlewares_wrap_every_dispatched_event(
    journal: Journal, emitter: InMemoryEventEmitter
) -> None:
    seen: list[str] = []

    async def record(message: Any, call_next: CallNext) -> Any:
        seen.append(type(message).__name__)
        return await call_next(message)

    mediator = build(
        journal,
        emitter,
        (UserRenamed, RecordRenamed),
        (ProfileUpdated, OnProfileUpdated),
        middlewares=[record],
    )

    await mediator.send(UserRenamed(user_id="u-1"))

    assert seen == ["UserRenamed", "ProfileUpdated"]
