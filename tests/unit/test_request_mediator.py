"""RequestMediator: one handler per request, built by the container; emitted events dispatched."""

from __future__ import annotations

import pydantic
import pytest

from cqrs_worker.container import DefaultContainer
from cqrs_worker.emitter import InMemoryEventEmitter
from cqrs_worker.errors import ConfigurationError, HandlerNotFoundError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import DomainEvent, ECSTEvent, Event, NotificationEvent
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.requests import Command, Query, Response


class Journal:
    """What handlers did, injected by the container."""

    def __init__(self) -> None:
        self.entries: list[str] = []


class UserPayload(pydantic.BaseModel):
    user_id: str


class UserJoined(NotificationEvent[UserPayload]):
    event_name: str = "UserJoined"
    topic: str = "users"


class UserState(ECSTEvent[UserPayload]):
    event_name: str = "UserState"
    topic: str = "users-state"


class UserCreated(DomainEvent):
    user_id: str


class CreateUser(Command):
    user_id: str


class FailingCreateUser(Command):
    user_id: str


class GetUser(Query):
    user_id: str


class UserView(Response):
    user_id: str
    greeting: str


class CreateUserHandler:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events: list[Event] = []

    async def handle(self, request: CreateUser) -> None:
        self.journal.entries.append(f"create {request.user_id}")
        payload = UserPayload(user_id=request.user_id)
        self.events.append(UserCreated(user_id=request.user_id))
        self.events.append(UserJoined(payload=payload))
        self.events.append(UserState(payload=payload))


class FailingCreateUserHandler:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self.events: list[Event] = []

    async def handle(self, request: FailingCreateUser) -> None:
        self.events.append(UserCreated(user_id=request.user_id))
        self.events.append(UserJoined(payload=UserPayload(user_id=request.user_id)))
        raise RuntimeError("database said no")


class GetUserHandler:
    """Emits nothing: it has no ``events`` attribute at all."""

    async def handle(self, request: GetUser) -> UserView:
        return UserView(user_id=request.user_id, greeting=f"hello {request.user_id}")


class EventsAsProperty:
    def __init__(self) -> None:
        self._created: list[UserCreated] = []

    @property
    def events(self) -> list[UserCreated]:
        return list(self._created)

    async def handle(self, request: CreateUser) -> str:
        self._created.append(UserCreated(user_id=request.user_id))
        return "ok"


class OnUserCreated:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: UserCreated) -> None:
        self.journal.entries.append(f"created {event.user_id}")


@pytest.fixture
def journal() -> Journal:
    return Journal()


@pytest.fixture
def emitter() -> InMemoryEventEmitter:
    return InMemoryEventEmitter()


@pytest.fixture
def container(journal: Journal) -> DefaultContainer:
    container = DefaultContainer()
    container.register_instance(Journal, journal)
    return container


def build(
    container: DefaultContainer,
    emitter: InMemoryEventEmitter | None,
    *bindings: tuple[type[Command], type[object]],
) -> RequestMediator:
    requests = RequestMap()
    for request_type, handler_type in bindings:
        requests.bind(request_type, handler_type)
    events = EventMap()
    events.bind(UserCreated, OnUserCreated)
    event_mediator = EventMediator(events, container, emitter=emitter)
    return RequestMediator(requests, container, event_mediator=event_mediator)


async def test_send_returns_the_handler_response(
    container: DefaultContainer, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(container, emitter, (GetUser, GetUserHandler))

    view = await mediator.send(GetUser(user_id="u-1"))

    assert view == UserView(user_id="u-1", greeting="hello u-1")


async def test_send_builds_the_handler_with_its_dependencies(
    container: DefaultContainer, emitter: InMemoryEventEmitter, journal: Journal
) -> None:
    mediator = build(container, emitter, (CreateUser, CreateUserHandler))

    result = await mediator.send(CreateUser(user_id="u-1"))

    assert result is None
    assert journal.entries[0] == "create u-1"


async def test_emitted_events_go_in_process_or_to_the_emitter(
    container: DefaultContainer, emitter: InMemoryEventEmitter, journal: Journal
) -> None:
    mediator = build(container, emitter, (CreateUser, CreateUserHandler))

    await mediator.send(CreateUser(user_id="u-1"))

    assert journal.entries == ["create u-1", "created u-1"]
    assert [type(event) for event in emitter.events] == [UserJoined, UserState]
    assert all(event.payload.user_id == "u-1" for event in emitter.events)


async def test_a_handler_that_raises_dispatches_nothing(
    container: DefaultContainer, emitter: InMemoryEventEmitter, journal: Journal
) -> None:
    mediator = build(container, emitter, (FailingCreateUser, FailingCreateUserHandler))

    with pytest.raises(RuntimeError, match="database said no"):
        await mediator.send(FailingCreateUser(user_id="u-1"))

    assert journal.entries == []
    assert list(emitter.events) == []


async def test_events_exposed_as_a_property_are_dispatched(
    container: DefaultContainer, emitter: InMemoryEventEmitter, journal: Journal
) -> None:
    mediator = build(container, emitter, (CreateUser, EventsAsProperty))

    assert await mediator.send(CreateUser(user_id="u-2")) == "ok"

    assert journal.entries == ["created u-2"]


async def test_handlers_are_built_per_send(
    container: DefaultContainer, emitter: InMemoryEventEmitter, journal: Journal
) -> None:
    mediator = build(container, emitter, (CreateUser, CreateUserHandler))

    await mediator.send(CreateUser(user_id="a"))
    await mediator.send(CreateUser(user_id="b"))

    # A handler reused across sends would re-dispatch the first send's events.
    assert journal.entries == ["create a", "created a", "create b", "created b"]
    assert len(emitter.events) == 4


async def test_unbound_request_raises_handler_not_found(
    container: DefaultContainer, emitter: InMemoryEventEmitter
) -> None:
    mediator = build(container, emitter)

    with pytest.raises(HandlerNotFoundError, match=r"RequestMap.bind\(GetUser, Handler\)"):
        await mediator.send(GetUser(user_id="u-1"))


async def test_emitting_without_an_event_mediator_is_a_configuration_error(
    container: DefaultContainer,
) -> None:
    requests = RequestMap()
    requests.bind(CreateUser, CreateUserHandler)
    mediator = RequestMediator(requests, container)

    with pytest.raises(ConfigurationError, match="has no event_mediator"):
        await mediator.send(CreateUser(user_id="u-1"))


async def test_handler_emitting_nothing_needs_no_event_mediator(
    container: DefaultContainer,
) -> None:
    requests = RequestMap()
    requests.bind(GetUser, GetUserHandler)
    mediator = RequestMediator(requests, container)

    view = await mediator.send(GetUser(user_id="u-3"))

    assert view.user_id == "u-3"
