"""bootstrap(): both mediators from maps or mapper functions, sharing one container."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import pydantic
import pytest

from cqrs_worker.bootstrap import Mediators, bootstrap, bootstrap_events, bootstrap_requests
from cqrs_worker.container import DefaultContainer
from cqrs_worker.emitter import EventEmitter, InMemoryEventEmitter
from cqrs_worker.errors import ConfigurationError, EventCycleError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import DomainEvent, Event, NotificationEvent
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.requests import Command


class Session:
    """A per-message dependency, like a database session."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.closed = False


async def open_session() -> AsyncIterator[Session]:
    session = Session()
    yield session
    session.closed = True


class OrderPayload(pydantic.BaseModel):
    order_id: str


class OrderShipped(NotificationEvent[OrderPayload]):
    event_name: str = "OrderShipped"
    topic: str = "orders"


class OrderPlaced(DomainEvent):
    order_id: str


class Loop(DomainEvent):
    pass


class PlaceOrder(Command):
    order_id: str


class ReserveStock(Command):
    order_id: str


class ShipOrder(Command):
    order_id: str


class PlaceOrderHandler:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events: list[Event] = []

    async def handle(self, request: PlaceOrder) -> Session:
        self.session.log.append(f"placed {request.order_id}")
        self.events.append(OrderPlaced(order_id=request.order_id))
        return self.session


class ReserveOnOrderPlaced:
    """An event handler that sends a command: both must share the message scope."""

    def __init__(self, session: Session, mediator: RequestMediator) -> None:
        self.session = session
        self.mediator = mediator

    async def handle(self, event: OrderPlaced) -> None:
        self.session.log.append(f"event handler session {id(self.session)}")
        await self.mediator.send(ReserveStock(order_id=event.order_id))


class ReserveStockHandler:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def handle(self, request: ReserveStock) -> None:
        self.session.log.append(f"command handler session {id(self.session)}")


class ShipOrderHandler:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def handle(self, request: ShipOrder) -> None:
        self.events.append(OrderShipped(payload=OrderPayload(order_id=request.order_id)))


class WantsEverything:
    def __init__(
        self, requests: RequestMediator, events: EventMediator, emitter: EventEmitter
    ) -> None:
        self.requests = requests
        self.events = events
        self.emitter = emitter


class OnLoop:
    def __init__(self) -> None:
        self.events = [Loop()]

    async def handle(self, event: Loop) -> None:
        return None


def map_requests(requests: RequestMap) -> None:
    requests.bind(PlaceOrder, PlaceOrderHandler)
    requests.bind(ReserveStock, ReserveStockHandler)
    requests.bind(ShipOrder, ShipOrderHandler)


def map_events(events: EventMap) -> None:
    events.bind(OrderPlaced, ReserveOnOrderPlaced)
    events.bind(Loop, OnLoop)


def session_container() -> DefaultContainer:
    container = DefaultContainer()
    container.register_factory(Session, open_session)
    return container


async def test_bootstrap_with_mapper_functions() -> None:
    emitter = InMemoryEventEmitter()
    mediators = bootstrap(
        requests=map_requests, events=map_events, container=session_container(), emitter=emitter
    )

    await mediators.requests.send(ShipOrder(order_id="o-1"))

    assert isinstance(mediators, Mediators)
    assert mediators.requests.event_mediator is mediators.events
    assert mediators.requests.container is mediators.events.container
    assert [event.payload for event in emitter.events] == [OrderPayload(order_id="o-1")]


async def test_bootstrap_with_maps() -> None:
    requests, events = RequestMap(), EventMap()
    map_requests(requests)
    map_events(events)

    mediators = bootstrap(requests=requests, events=events, container=session_container())

    assert mediators.requests.request_map is requests
    assert mediators.events.event_map is events
    session = await mediators.requests.send(PlaceOrder(order_id="o-1"))
    assert session.log[0] == "placed o-1"


async def test_command_sent_from_an_event_handler_shares_the_message_scope() -> None:
    mediators = bootstrap(requests=map_requests, events=map_events, container=session_container())

    session = await mediators.requests.send(PlaceOrder(order_id="o-1"))

    assert session.log == [
        "placed o-1",
        f"event handler session {id(session)}",
        f"command handler session {id(session)}",
    ]
    assert session.closed, "closed once, when the outer message finished"


async def test_event_sent_directly_shares_its_scope_with_the_command_it_sends() -> None:
    container = session_container()
    events = bootstrap_events(events=map_events, requests=map_requests, container=container)

    async with container.scope() as scope:
        await events.send(OrderPlaced(order_id="o-2"))
        session = await scope.resolve(Session)
        assert not session.closed

    assert session.log == [
        f"event handler session {id(session)}",
        f"command handler session {id(session)}",
    ]
    assert session.closed


async def test_mediators_and_emitter_are_registered_in_the_default_container() -> None:
    container = DefaultContainer()
    emitter = InMemoryEventEmitter()

    mediators = bootstrap(container=container, emitter=emitter)
    wants = await container.resolve(WantsEverything)

    assert wants.requests is mediators.requests
    assert wants.events is mediators.events
    assert wants.emitter is emitter


async def test_bootstrap_builds_a_default_container() -> None:
    mediators = bootstrap()

    assert isinstance(mediators.requests.container, DefaultContainer)
    assert await mediators.requests.container.resolve(RequestMediator) is mediators.requests


async def test_wire_event_emitted_without_an_emitter_says_how_to_fix_it() -> None:
    mediator = bootstrap_requests(requests=map_requests)

    with pytest.raises(ConfigurationError) as caught:
        await mediator.send(ShipOrder(order_id="o-1"))

    message = str(caught.value)
    assert "OrderShipped" in message
    assert "no EventEmitter is configured" in message
    assert "emitter=" in message


async def test_bootstrap_requests_and_events_return_one_mediator_each() -> None:
    emitter = InMemoryEventEmitter()

    requests = bootstrap_requests(requests=map_requests, emitter=emitter)
    events = bootstrap_events(events=map_events, emitter=emitter)

    assert isinstance(requests, RequestMediator)
    assert isinstance(events, EventMediator)
    await requests.send(ShipOrder(order_id="o-3"))
    assert len(emitter.events) == 1


async def test_default_middleware_logs_requests_and_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="cqrs_worker.middleware")
    mediators = bootstrap(requests=map_requests, events=map_events, container=session_container())

    await mediators.requests.send(PlaceOrder(order_id="o-1"))

    messages = [
        r.getMessage().split(" in ")[0]
        for r in caplog.records
        if r.name == "cqrs_worker.middleware"
    ]
    assert messages == [
        "handled ReserveStock",
        "handled OrderPlaced",
        "handled PlaceOrder",
    ]


async def test_empty_middlewares_disable_the_default(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="cqrs_worker.middleware")
    mediators = bootstrap(requests=map_requests, container=session_container(), middlewares=[])

    await mediators.requests.send(ReserveStock(order_id="o-1"))

    assert [r for r in caplog.records if r.name == "cqrs_worker.middleware"] == []


async def test_max_event_depth_is_passed_to_the_event_mediator() -> None:
    mediators = bootstrap(events=map_events, max_event_depth=2)

    with pytest.raises(EventCycleError, match="3 levels deep"):
        await mediators.events.send(Loop())


@pytest.mark.parametrize("build", [bootstrap, bootstrap_requests, bootstrap_events])
def test_python_cqrs_keywords_say_what_to_write(build: Callable[..., object]) -> None:
    with pytest.raises(TypeError, match=r"di_container= -> container=.*requests\.bootstrap"):
        build(di_container=DefaultContainer())


def test_request_mediator_names_event_mediator_for_event_emitter() -> None:
    with pytest.raises(TypeError, match=r"event_emitter; write event_mediator="):
        RequestMediator(RequestMap(), DefaultContainer(), event_emitter=None)  # type: ignore[call-arg]  # under test
