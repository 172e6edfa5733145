"""Chains of handlers: bound as a list, tried in order until one answers."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cqrs_worker import (
    CORRequestHandler,
    DefaultContainer,
    DomainEvent,
    Event,
    EventMap,
    Query,
    RequestMap,
    Response,
    bootstrap,
    build_chain,
)
from cqrs_worker.chain import HandlerChain
from cqrs_worker.errors import ConfigurationError, HandlerAlreadyBoundError


class Login(Query["Session"]):
    user: str
    secret: str


class Session(Response):
    user: str
    how: str


class LoggedIn(DomainEvent):
    user: str
    how: str


@dataclass
class Trace:
    tried: list[str] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)


class ByPassword(CORRequestHandler[Login, Session]):
    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.events: list[Event] = []

    async def handle(self, request: Login) -> Session | None:
        self.trace.tried.append("password")
        if request.secret.startswith("pw:"):
            self.events.append(LoggedIn(user=request.user, how="password"))
            return Session(user=request.user, how="password")
        return await self.next(request)


class ByToken(CORRequestHandler[Login, Session]):
    def __init__(self, trace: Trace) -> None:
        self.trace = trace
        self.events: list[Event] = []

    async def handle(self, request: Login) -> Session | None:
        self.trace.tried.append("token")
        if request.secret.startswith("tok:"):
            self.events.append(LoggedIn(user=request.user, how="token"))
            return Session(user=request.user, how="token")
        return await self.next(request)


class RecordLogin:
    def __init__(self, trace: Trace) -> None:
        self.trace = trace

    async def handle(self, event: LoggedIn) -> None:
        self.trace.logins.append(f"{event.user} by {event.how}")


def mediator() -> tuple[object, Trace]:
    trace = Trace()
    requests = RequestMap()
    requests.bind(Login, [ByPassword, ByToken])
    events = EventMap()
    events.bind(LoggedIn, RecordLogin)
    container = DefaultContainer()
    container.register_instance(Trace, trace)
    return bootstrap(requests=requests, events=events, container=container).requests, trace


async def test_the_first_link_that_takes_the_request_answers() -> None:
    requests, trace = mediator()

    session = await requests.send(Login(user="ann", secret="pw:x"))  # type: ignore[attr-defined]

    assert session == Session(user="ann", how="password")
    assert trace.tried == ["password"]
    assert trace.logins == ["ann by password"]


async def test_a_link_passes_the_request_on_and_the_answering_links_events_go_out() -> None:
    requests, trace = mediator()

    session = await requests.send(Login(user="bob", secret="tok:y"))  # type: ignore[attr-defined]

    assert session == Session(user="bob", how="token")
    assert trace.tried == ["password", "token"]
    assert trace.logins == ["bob by token"]


async def test_nobody_taking_the_request_answers_none() -> None:
    requests, trace = mediator()

    assert await requests.send(Login(user="eve", secret="??")) is None  # type: ignore[attr-defined]
    assert trace.tried == ["password", "token"]
    assert trace.logins == []


def test_the_map_keeps_a_chain_apart_from_single_handlers() -> None:
    requests = RequestMap()
    requests.bind(Login, [ByPassword, ByToken])

    assert requests.handler_of(Login) is None
    chain = requests[Login]
    assert isinstance(chain, HandlerChain)
    assert chain.links == (ByPassword, ByToken)
    assert list(requests) == [Login]
    assert len(requests) == 1
    with pytest.raises(HandlerAlreadyBoundError, match="HandlerChain"):
        requests.bind(Login, ByToken)


@pytest.mark.parametrize("links", [[], ["ByPassword"]])
def test_a_chain_of_no_classes_is_refused(links: list[object]) -> None:
    with pytest.raises(ConfigurationError, match="non-empty list of CORRequestHandler"):
        RequestMap().bind(Login, links)  # type: ignore[arg-type]


async def test_build_chain_links_instances_the_application_holds() -> None:
    trace = Trace()
    head = build_chain([ByPassword(trace), ByToken(trace)])

    assert await head.handle(Login(user="cy", secret="tok:z")) == Session(user="cy", how="token")
    assert trace.tried == ["password", "token"]


def test_build_chain_needs_a_handler() -> None:
    with pytest.raises(ValueError, match="at least one"):
        build_chain([])


async def test_a_link_without_handle_says_so() -> None:
    class Lazy(CORRequestHandler[Login, Session]):
        pass

    with pytest.raises(NotImplementedError, match="Lazy must implement handle"):
        await Lazy().handle(Login(user="a", secret="b"))


def test_set_next_keeps_the_first_link() -> None:
    trace = Trace()
    first, second, third = ByPassword(trace), ByToken(trace), ByToken(trace)

    assert first.set_next(second) is second
    assert first.set_next(third) is second
