"""DishkaContainer against real dishka: one REQUEST scope per message, re-entered."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dishka import Provider, Scope, make_async_container, provide

from cqrs_worker.bootstrap import Mediators, bootstrap
from cqrs_worker.contrib.dishka import DishkaContainer
from cqrs_worker.events import DomainEvent, Event
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.requests import Command


class Session:
    opened = 0

    def __init__(self) -> None:
        Session.opened += 1
        self.log: list[str] = []
        self.closed = False


class OrderPlaced(DomainEvent):
    order_id: str


class PlaceOrder(Command):
    order_id: str


class ReserveStock(Command):
    order_id: str


class Fail(Command):
    pass


class Hold(Command):
    """Waits until every concurrent Hold is in flight."""


class PlaceOrderHandler:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events: list[Event] = []

    async def handle(self, request: PlaceOrder) -> Session:
        self.session.log.append("place")
        self.events.append(OrderPlaced(order_id=request.order_id))
        return self.session


class ReserveOnOrderPlaced:
    def __init__(self, session: Session, mediator: RequestMediator) -> None:
        self.session = session
        self.mediator = mediator

    async def handle(self, event: OrderPlaced) -> None:
        self.session.log.append(f"event handler {id(self.session)}")
        await self.mediator.send(ReserveStock(order_id=event.order_id))


class ReserveStockHandler:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def handle(self, request: ReserveStock) -> Session:
        self.session.log.append(f"command handler {id(self.session)}")
        return self.session


class FailHandler:
    def __init__(self, session: Session) -> None:
        self.session = session

    async def handle(self, request: Fail) -> None:
        self.session.log.append("failing")
        raise RuntimeError("handler failed")


class HoldHandler:
    def __init__(self, session: Session, barrier: asyncio.Barrier) -> None:
        self.session = session
        self.barrier = barrier

    async def handle(self, request: Hold) -> Session:
        await asyncio.wait_for(self.barrier.wait(), timeout=5)
        return self.session


class RequestScoped(Provider):
    scope = Scope.REQUEST

    handlers = provide(PlaceOrderHandler) + provide(ReserveOnOrderPlaced)
    more_handlers = provide(ReserveStockHandler) + provide(FailHandler) + provide(HoldHandler)

    def __init__(self) -> None:
        super().__init__()
        self.sessions: list[Session] = []

    @provide
    async def session(self) -> AsyncIterator[Session]:
        session = Session()
        self.sessions.append(session)
        yield session
        session.closed = True


class AppScoped(Provider):
    """Hands dishka the mediator, which exists only once the container does."""

    scope = Scope.APP

    def __init__(self) -> None:
        super().__init__()
        self.mediators: Mediators | None = None
        self.barrier = asyncio.Barrier(5)

    @provide
    def barrier_(self) -> asyncio.Barrier:
        return self.barrier

    @provide
    def request_mediator(self) -> RequestMediator:
        assert self.mediators is not None, "bootstrap first"
        return self.mediators.requests


def map_requests(requests: RequestMap) -> None:
    requests.bind(PlaceOrder, PlaceOrderHandler)
    requests.bind(ReserveStock, ReserveStockHandler)
    requests.bind(Fail, FailHandler)
    requests.bind(Hold, HoldHandler)


def map_events(events: EventMap) -> None:
    events.bind(OrderPlaced, ReserveOnOrderPlaced)


class App:
    def __init__(self) -> None:
        self.request_scoped = RequestScoped()
        app_scoped = AppScoped()
        self.dishka = make_async_container(self.request_scoped, app_scoped)
        self.container = DishkaContainer(self.dishka)
        self.mediators = bootstrap(
            requests=map_requests, events=map_events, container=self.container
        )
        app_scoped.mediators = self.mediators

    @property
    def sessions(self) -> list[Session]:
        return self.request_scoped.sessions


@pytest.fixture
async def app() -> AsyncIterator[App]:
    app = App()
    yield app
    await app.dishka.close()


async def test_command_sent_from_an_event_handler_shares_the_request_scope(app: App) -> None:
    session = await app.mediators.requests.send(PlaceOrder(order_id="o-1"))

    assert app.sessions == [session]
    assert session.log == [
        "place",
        f"event handler {id(session)}",
        f"command handler {id(session)}",
    ]
    assert session.closed


async def test_each_message_gets_its_own_request_scope(app: App) -> None:
    first = await app.mediators.requests.send(ReserveStock(order_id="o-1"))
    second = await app.mediators.requests.send(ReserveStock(order_id="o-2"))

    assert first is not second
    assert first.closed
    assert second.closed


async def test_event_sent_directly_opens_one_scope_for_everything(app: App) -> None:
    await app.mediators.events.send(OrderPlaced(order_id="o-1"))

    [session] = app.sessions
    assert session.log == [f"event handler {id(session)}", f"command handler {id(session)}"]
    assert session.closed


async def test_nested_scopes_reenter_and_only_the_outer_one_closes(app: App) -> None:
    async with app.container.scope() as outer:
        session = await outer.resolve(Session)
        async with app.container.scope() as inner:
            assert await inner.resolve(Session) is session
        assert not session.closed
        assert await app.container.resolve(Session) is session

    assert session.closed
    assert app.sessions == [session]


async def test_resolve_outside_a_scope_opens_and_closes_one(app: App) -> None:
    session = await app.container.resolve(Session)

    assert session.closed


async def test_failing_handler_still_closes_the_scope(app: App) -> None:
    with pytest.raises(RuntimeError, match="handler failed"):
        await app.mediators.requests.send(Fail())

    [session] = app.sessions
    assert session.log == ["failing"]
    assert session.closed


async def test_concurrent_messages_get_separate_scopes(app: App) -> None:
    sessions = await asyncio.gather(*(app.mediators.requests.send(Hold()) for _ in range(5)))

    assert len({id(session) for session in sessions}) == 5
    assert all(session.closed for session in sessions)
