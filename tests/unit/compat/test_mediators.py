"""python-cqrs's mediator and bootstrap shapes build our mediators."""

from __future__ import annotations

import cqrs_worker
from cqrs_worker.brokers import BrokerEventEmitter, InMemoryBroker
from cqrs_worker.compat import EventEmitter, RequestMediator, bootstrap_events, bootstrap_requests
from cqrs_worker.events import bootstrap as events_bootstrap
from cqrs_worker.requests import bootstrap as requests_bootstrap


class Ping(cqrs_worker.Request[str]):
    name: str


class Pinged(cqrs_worker.NotificationEvent[dict[str, str]]):
    event_name: str = "Pinged"
    topic: str = "pings"


class Noted(cqrs_worker.DomainEvent):
    name: str


noted: list[str] = []


class PingHandler:
    def __init__(self) -> None:
        self.events: list[cqrs_worker.Event] = []

    async def handle(self, request: Ping) -> str:
        self.events.append(Noted(name=request.name))
        self.events.append(Pinged(payload={"name": request.name}))
        return f"pong {request.name}"


class NotedHandler:
    async def handle(self, event: Noted) -> None:
        noted.append(event.name)


def commands(request_map: cqrs_worker.RequestMap) -> None:
    request_map.bind(Ping, PingHandler)


def domain_events(event_map: cqrs_worker.EventMap) -> None:
    event_map.bind(Noted, NotedHandler)


async def test_event_emitter_and_request_mediator_build_ours() -> None:
    broker = InMemoryBroker()
    await broker.start()
    event_map, request_map = cqrs_worker.EventMap(), cqrs_worker.RequestMap()
    domain_events(event_map)
    commands(request_map)
    container = cqrs_worker.DefaultContainer()
    noted.clear()

    event_emitter = EventEmitter(event_map, container, broker)
    mediator = RequestMediator(
        request_map=request_map, container=container, event_emitter=event_emitter
    )

    assert isinstance(event_emitter, cqrs_worker.EventMediator)
    assert isinstance(event_emitter.emitter, BrokerEventEmitter)
    assert isinstance(mediator, cqrs_worker.RequestMediator)
    assert await mediator.send(Ping(name="ada")) == "pong ada"
    assert noted == ["ada"]
    assert [m.destination for m in broker.messages()] == ["pings"]


async def test_requests_bootstrap_takes_python_cqrs_keywords() -> None:
    broker = InMemoryBroker()
    await broker.start()
    noted.clear()

    mediator = requests_bootstrap.bootstrap(
        di_container=cqrs_worker.DefaultContainer(),
        commands_mapper=commands,
        queries_mapper=lambda _: None,
        domain_events_mapper=domain_events,
        message_broker=broker,
    )

    assert requests_bootstrap.bootstrap is bootstrap_requests
    assert await mediator.send(Ping(name="bo")) == "pong bo"
    assert noted == ["bo"]
    assert [m.destination for m in broker.messages()] == ["pings"]


async def test_events_bootstrap_takes_python_cqrs_keywords() -> None:
    noted.clear()
    mediator = events_bootstrap.bootstrap(
        di_container=cqrs_worker.DefaultContainer(), events_mapper=domain_events
    )

    await mediator.send(Noted(name="cy"))

    assert events_bootstrap.bootstrap is bootstrap_events
    assert noted == ["cy"]


async def test_a_bare_di_container_is_wrapped_as_python_cqrs_does() -> None:
    import di

    from cqrs_worker.contrib.di import DIContainer

    broker = InMemoryBroker()
    await broker.start()
    noted.clear()

    requests = requests_bootstrap.bootstrap(
        di_container=di.Container(),
        commands_mapper=commands,
        domain_events_mapper=domain_events,
        message_broker=broker,
    )
    events = events_bootstrap.bootstrap(di_container=di.Container(), events_mapper=domain_events)

    assert isinstance(requests.container, DIContainer)
    assert isinstance(events.container, DIContainer)
    assert await requests.send(Ping(name="di")) == "pong di"
    await events.send(Noted(name="di events"))
    assert noted == ["di", "di events"]
