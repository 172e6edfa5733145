"""Fallback bindings through the mediators, with and without a circuit breaker."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from cqrs_worker.bootstrap import Mediators, bootstrap
from cqrs_worker.container import DefaultContainer
from cqrs_worker.errors import EventHandlingError
from cqrs_worker.events import DomainEvent, Event
from cqrs_worker.maps import EventMap, RequestMap
from cqrs_worker.requests import Query
from cqrs_worker.resilience import (
    EventHandlerFallback,
    InMemoryCircuitBreaker,
    RequestHandlerFallback,
)


class Session:
    """A per-message dependency, closed with the scope."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.closed = False


class Service:
    """The dependency the primaries call; ``down`` makes them fail."""

    def __init__(self) -> None:
        self.down: type[Exception] | None = None
        self.calls = 0

    def call(self) -> None:
        self.calls += 1
        if self.down is not None:
            raise self.down("service down")


class GetPrice(Query[int]):
    sku: str


class PriceLooked(DomainEvent):
    source: str


class PriceChanged(DomainEvent):
    sku: str


class PriceFromService:
    def __init__(self, service: Service, session: Session) -> None:
        self.service = service
        self.session = session
        self.events: list[Event] = []

    async def handle(self, request: GetPrice) -> int:
        self.session.log.append("primary")
        self.events.append(PriceLooked(source="service"))
        self.service.call()
        return 100


class PriceFromCache:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.events: list[Event] = [PriceLooked(source="cache")]

    async def handle(self, request: GetPrice) -> int:
        self.session.log.append("fallback")
        return 90


class BrokenCache:
    async def handle(self, request: GetPrice) -> int:
        raise LookupError("cache empty")


class Journal:
    def __init__(self) -> None:
        self.entries: list[str] = []


class RecordLook:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: PriceLooked) -> None:
        self.journal.entries.append(f"looked up in {event.source}")


class NotifyBuyers:
    def __init__(self, service: Service, journal: Journal) -> None:
        self.service = service
        self.journal = journal

    async def handle(self, event: PriceChanged) -> None:
        self.service.call()
        self.journal.entries.append("buyers notified")


class QueueNotification:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: PriceChanged) -> None:
        self.journal.entries.append("notification queued")


class UpdateSearch:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: PriceChanged) -> None:
        self.journal.entries.append("search updated")


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class App:
    def __init__(self, *, fallback: type = PriceFromCache, **options: object) -> None:
        self.service = Service()
        self.journal = Journal()
        self.sessions: list[Session] = []
        self.clock = Clock()
        self.breaker = InMemoryCircuitBreaker(fail_max=2, timeout_duration=10, clock=self.clock)
        container = DefaultContainer()
        container.register_instance(Service, self.service)
        container.register_instance(Journal, self.journal)
        container.register_factory(Session, self._session)
        requests = RequestMap()
        requests.bind(
            GetPrice,
            RequestHandlerFallback(
                PriceFromService,
                fallback,
                circuit_breaker=self.breaker,
                **options,  # type: ignore[arg-type]  # the tests pass the binding's keywords
            ),
        )
        events = EventMap()
        events.bind(PriceLooked, RecordLook)
        events.bind(
            PriceChanged,
            EventHandlerFallback(NotifyBuyers, QueueNotification, circuit_breaker=self.breaker),
        )
        events.bind(PriceChanged, UpdateSearch)
        self.mediators: Mediators = bootstrap(requests=requests, events=events, container=container)

    async def _session(self) -> AsyncIterator[Session]:
        session = Session()
        self.sessions.append(session)
        yield session
        session.closed = True


async def test_the_primary_answers_while_it_works() -> None:
    app = App()

    assert await app.mediators.requests.send(GetPrice(sku="a")) == 100

    assert app.journal.entries == ["looked up in service"]
    assert (
        app.breaker.state(RequestHandlerFallback(PriceFromService, PriceFromCache).breaker_name)
        == "closed"
    )


async def test_a_failing_primary_is_replaced_by_the_fallback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = App()
    app.service.down = ConnectionError

    with caplog.at_level(logging.WARNING, "cqrs_worker.resilience"):
        assert await app.mediators.requests.send(GetPrice(sku="a")) == 90

    # Only the answering handler's events are dispatched, not what the primary emitted.
    assert app.journal.entries == ["looked up in cache"]
    [session] = app.sessions
    assert session.log == ["primary", "fallback"]  # one scope for both
    assert session.closed
    assert "PriceFromService failed on GetPrice (ConnectionError: service down)" in caplog.text


async def test_an_open_circuit_skips_the_primary() -> None:
    app = App()
    app.service.down = ConnectionError
    for _ in range(2):
        await app.mediators.requests.send(GetPrice(sku="a"))
    assert app.service.calls == 2

    app.service.down = None  # back, but the circuit is open: the primary is not built
    assert await app.mediators.requests.send(GetPrice(sku="a")) == 90
    assert app.service.calls == 2
    assert app.sessions[-1].log == ["fallback"]

    app.clock.now += 10  # half-open: the trial goes to the primary and closes it
    assert await app.mediators.requests.send(GetPrice(sku="a")) == 100
    assert await app.mediators.requests.send(GetPrice(sku="a")) == 100


async def test_errors_outside_failure_exceptions_fail_the_request() -> None:
    app = App(failure_exceptions=(ConnectionError, TimeoutError))
    app.service.down = PermissionError

    with pytest.raises(PermissionError):
        await app.mediators.requests.send(GetPrice(sku="a"))

    assert app.sessions[0].log == ["primary"]
    assert app.journal.entries == []


async def test_listed_errors_go_to_the_fallback() -> None:
    app = App(failure_exceptions=(ConnectionError, TimeoutError))
    app.service.down = TimeoutError

    assert await app.mediators.requests.send(GetPrice(sku="a")) == 90


async def test_a_failing_fallback_fails_the_request() -> None:
    app = App(fallback=BrokenCache)
    app.service.down = ConnectionError

    with pytest.raises(LookupError, match="cache empty"):
        await app.mediators.requests.send(GetPrice(sku="a"))

    assert app.journal.entries == []


async def test_an_event_handler_falls_back_and_the_others_still_run() -> None:
    app = App()
    app.service.down = ConnectionError

    await app.mediators.events.send(PriceChanged(sku="a"))

    assert app.journal.entries == ["notification queued", "search updated"]


async def test_an_event_handler_behind_an_open_circuit_goes_to_its_fallback() -> None:
    app = App()
    app.service.down = ConnectionError
    for _ in range(2):
        await app.mediators.events.send(PriceChanged(sku="a"))
    app.service.down = None
    app.journal.entries.clear()

    await app.mediators.events.send(PriceChanged(sku="a"))

    assert app.service.calls == 2  # NotifyBuyers was not called
    assert app.journal.entries == ["notification queued", "search updated"]


async def test_an_event_whose_fallback_fails_reports_the_binding() -> None:
    events = EventMap()
    events.bind(PriceChanged, EventHandlerFallback(NotifyBuyers, BrokenEventFallback))
    container = DefaultContainer()
    service = Service()
    service.down = ConnectionError
    container.register_instance(Service, service)
    mediators = bootstrap(events=events, container=container)

    with pytest.raises(EventHandlingError) as caught:
        await mediators.events.send(PriceChanged(sku="a"))

    assert "NotifyBuyers (fallback BrokenEventFallback): RuntimeError: also down" in str(
        caught.value
    )


class BrokenEventFallback:
    async def handle(self, event: PriceChanged) -> None:
        raise RuntimeError("also down")


def test_the_binding_checks_its_arguments() -> None:
    with pytest.raises(TypeError, match="two handler classes"):
        RequestHandlerFallback(PriceFromService, BrokenCache())  # type: ignore[arg-type]  # an instance, on purpose
    with pytest.raises(TypeError, match="another handler"):
        RequestHandlerFallback(PriceFromService, PriceFromService)
    with pytest.raises(TypeError, match="tuple of Exception classes"):
        RequestHandlerFallback(
            PriceFromService,
            PriceFromCache,
            failure_exceptions=[ConnectionError],  # type: ignore[arg-type]  # a list, on purpose
        )


def test_the_map_shows_the_binding() -> None:
    binding = RequestHandlerFallback(PriceFromService, PriceFromCache)
    requests = RequestMap()
    requests.bind(GetPrice, binding)

    assert requests[GetPrice] is binding
    assert GetPrice not in requests.handler_classes
    assert repr(binding) == "RequestHandlerFallback(PriceFromService (fallback PriceFromCache))"
    assert binding.breaker_name == f"{__name__}.PriceFromService"
