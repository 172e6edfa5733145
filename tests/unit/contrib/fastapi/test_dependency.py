"""Mediator: one container scope per HTTP request (in-process ASGI, no network)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import httpx
import pytest
from dishka import Provider, Scope, make_async_container
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

from cqrs_worker import Container, DefaultContainer, Query, RequestMap, Response, bootstrap
from cqrs_worker.contrib.dishka import DishkaContainer
from cqrs_worker.contrib.fastapi import Mediator, Session, setup
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.inbox import UnitOfWork

_ids = itertools.count(1)


class RequestToken:
    """A per-message dependency: a fresh one per scope, closed when the scope ends."""

    def __init__(self) -> None:
        self.id = next(_ids)
        self.closed = False


class WhoAmI(Query):
    wait: bool = False


class Answer(Response):
    token: int


class Gate:
    """Holds the first request inside its scope until the second one has its own."""

    def __init__(self) -> None:
        self.second_inside = asyncio.Event()


class WhoAmIHandler:
    def __init__(self, token: RequestToken, gate: Gate) -> None:
        self.token = token
        self.gate = gate

    async def handle(self, query: WhoAmI) -> Answer:
        if query.wait:
            async with asyncio.timeout(30):
                await self.gate.second_inside.wait()
        else:
            self.gate.second_inside.set()
        return Answer(token=self.token.id)


closed: list[RequestToken] = []


async def token_factory() -> AsyncIterator[RequestToken]:
    token = RequestToken()
    yield token
    closed.append(token)


def build_app(container: Container, gate: Gate) -> FastAPI:
    requests = RequestMap()
    requests.bind(WhoAmI, WhoAmIHandler)
    mediators = bootstrap(requests=requests, container=container)
    app = FastAPI()
    setup(app, mediator=mediators.requests)

    @app.get("/twice")
    async def twice(mediator: Mediator, wait: bool = False) -> list[int]:
        first = await mediator.send(WhoAmI(wait=wait))
        second = await mediator.send(WhoAmI())
        return [first.token, second.token]

    return app


def default_container(gate: Gate) -> DefaultContainer:
    container = DefaultContainer()
    container.register_factory(RequestToken, token_factory)  # lifetime: one per message scope
    container.register_instance(Gate, gate)
    return container


def dishka_container(gate: Gate) -> DishkaContainer:
    provider = Provider(scope=Scope.REQUEST)
    provider.provide(RequestToken)
    provider.provide(WhoAmIHandler)
    provider.provide(lambda: gate, provides=Gate, scope=Scope.APP)
    return DishkaContainer(make_async_container(provider))


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


@pytest.mark.parametrize("make_container", [default_container, dishka_container])
async def test_one_scope_per_request(make_container: object) -> None:
    gate = Gate()
    app = build_app(make_container(gate), gate)  # type: ignore[operator]  # a factory
    async with client(app) as api:
        first = (await api.get("/twice")).json()
        second = (await api.get("/twice")).json()
    assert first[0] == first[1], "two commands of one request share its scope"
    assert second[0] == second[1]
    assert first[0] != second[0], "the next request gets a fresh scope"


async def test_concurrent_requests_never_share_a_scope() -> None:
    gate = Gate()
    closed.clear()
    app = build_app(default_container(gate), gate)
    async with client(app) as api:
        # The first request is still inside its scope when the second one runs.
        held, other = await asyncio.gather(api.get("/twice?wait=true"), api.get("/twice"))
    held_ids, other_ids = held.json(), other.json()
    assert held_ids[0] == held_ids[1]
    assert other_ids[0] == other_ids[1]
    assert held_ids[0] != other_ids[0]
    assert sorted(t.id for t in closed) == sorted([held_ids[0], other_ids[0]]), (
        "each request's scope closed its dependencies when the request ended"
    )


async def test_an_app_without_setup_says_what_to_call() -> None:
    app = FastAPI()

    @app.get("/")
    async def root(mediator: Mediator) -> None:
        pass

    async with client(app) as api:
        with pytest.raises(ConfigurationError, match=r"call cqrs_worker.contrib.fastapi.setup"):
            await api.get("/")


async def test_session_needs_a_unit_of_work() -> None:
    app = FastAPI()
    setup(app, mediator=bootstrap(container=DefaultContainer()).requests)

    @app.get("/")
    async def root(session: Session) -> None:
        pass

    async with client(app) as api:
        with pytest.raises(ConfigurationError, match="Session needs a unit of work"):
            await api.get("/")


def test_the_unit_of_work_must_share_the_mediators_container() -> None:
    engine = create_async_engine("sqlite+aiosqlite://")  # never connected
    unit_of_work = UnitOfWork(async_sessionmaker(engine), container=DefaultContainer())
    mediator = bootstrap(container=DefaultContainer()).requests
    with pytest.raises(ConfigurationError, match="different containers"):
        setup(FastAPI(), mediator=mediator, unit_of_work=unit_of_work)
