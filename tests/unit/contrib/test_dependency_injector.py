"""DependencyInjectorContainer against real dependency-injector: one scope per message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from dependency_injector import containers, providers

from cqrs_worker.bootstrap import Mediators, bootstrap
from cqrs_worker.contrib.dependency_injector import DependencyInjectorContainer
from cqrs_worker.errors import ResolutionError
from cqrs_worker.events import DomainEvent, Event
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.requests import Command


class Session:
    def __init__(self) -> None:
        self.log: list[str] = []
        self.closed = False


class Clients:
    """Lives as long as the application (a Singleton)."""


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


class WhoAmI(Command):
    pass


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


class WhoAmIHandler:
    built = 0

    def __init__(self, clients: Clients) -> None:
        WhoAmIHandler.built += 1
        self.clients = clients

    async def handle(self, request: WhoAmI) -> Clients:
        return self.clients


def map_requests(requests: RequestMap) -> None:
    requests.bind(PlaceOrder, PlaceOrderHandler)
    requests.bind(ReserveStock, ReserveStockHandler)
    requests.bind(Fail, FailHandler)
    requests.bind(Hold, HoldHandler)
    requests.bind(WhoAmI, WhoAmIHandler)


def map_events(events: EventMap) -> None:
    events.bind(OrderPlaced, ReserveOnOrderPlaced)


async def open_session(opened: list[Session]) -> AsyncIterator[Session]:
    session = Session()
    opened.append(session)
    try:
        yield session
    finally:
        session.closed = True


class Handlers(containers.DeclarativeContainer):
    """A nested container, as larger applications split theirs."""

    session = providers.Dependency(instance_of=Session)
    reserve_stock = providers.Factory(ReserveStockHandler, session=session)


class AppContainer(containers.DeclarativeContainer):
    """A dependency-injector application as it stands; only the adapter is new."""

    opened = providers.Singleton(list)
    session = providers.ContextLocalResource(open_session, opened=opened)
    barrier = providers.Singleton(asyncio.Barrier, 5)
    clients = providers.Singleton(Clients)
    request_mediator = providers.Dependency(instance_of=RequestMediator)

    place_order = providers.Factory(PlaceOrderHandler, session=session)
    reserve_on_order_placed = providers.Factory(
        ReserveOnOrderPlaced, session=session, mediator=request_mediator
    )
    handlers = providers.Container(Handlers, session=session)
    fail = providers.Factory(FailHandler, session=session)
    hold = providers.Factory(HoldHandler, session=session, barrier=barrier)
    who_am_i = providers.Factory(WhoAmIHandler, clients=clients)


class App:
    def __init__(self) -> None:
        self.di = AppContainer()
        self.container = DependencyInjectorContainer(self.di)
        self.mediators: Mediators = bootstrap(
            requests=map_requests, events=map_events, container=self.container
        )
        self.di.request_mediator.override(self.mediators.requests)

    @property
    def sessions(self) -> list[Session]:
        sessions: list[Session] = self.di.opened()
        return sessions


@pytest.fixture
def app() -> App:
    return App()


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


async def test_handlers_are_built_per_message_and_app_scoped_values_are_shared(app: App) -> None:
    built = WhoAmIHandler.built
    first = await app.mediators.requests.send(WhoAmI())
    second = await app.mediators.requests.send(WhoAmI())

    assert WhoAmIHandler.built == built + 2
    assert first is second  # a Singleton


async def test_a_type_without_a_provider_names_what_to_add(app: App) -> None:
    class Unknown:
        pass

    with pytest.raises(ResolutionError, match=r"has no provider of Unknown; add one \(providers"):
        await app.container.resolve(Unknown)


async def test_an_abstract_type_resolves_to_the_provider_of_a_subclass(app: App) -> None:
    class Handler:
        pass

    class Concrete(Handler):
        pass

    class WithConcrete(containers.DeclarativeContainer):
        concrete = providers.Factory(Concrete)

    container = DependencyInjectorContainer(WithConcrete())

    assert isinstance(await container.resolve(Handler), Concrete)


async def test_a_resource_teardown_runs_inside_the_message_scope() -> None:
    # What a teardown resolves or sends re-enters the message's scope; a nested
    # scope would end the message a second time while it is being ended.
    inside: list[object] = []

    async def open_session() -> AsyncIterator[Session]:
        yield Session()
        async with adapter.scope() as scope:
            inside.append(scope)

    class Sessions(containers.DeclarativeContainer):
        session = providers.ContextLocalResource(open_session)

    adapter = DependencyInjectorContainer(Sessions())
    async with adapter.scope() as outer:
        await outer.resolve(Session)
    assert inside == [outer]
