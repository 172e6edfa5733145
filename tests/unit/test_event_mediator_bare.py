"""EventMediator's bare path: one handler built with no arguments runs without a scope.

It must give what the scoped path gives: the same handler calls, the same
follow-ups dispatched, the same error (type, failures, cause, no chained
context). The scoped path is forced here with a pass-through middleware.
"""

from __future__ import annotations

from typing import Any

import pytest

from cqrs_worker.container import DefaultContainer
from cqrs_worker.emitter import InMemoryEventEmitter
from cqrs_worker.errors import EventHandlingError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import DomainEvent, NotificationEvent
from cqrs_worker.maps import EventMap
from cqrs_worker.middleware import CallNext

seen: list[str] = []


class Shipped(DomainEvent):
    order_id: int


class Noted(DomainEvent):
    order_id: int


class Announced(NotificationEvent[dict[str, int]]):
    event_name: str = "Announced"
    topic: str = "news"


class ShippedHandler:
    def __init__(self) -> None:
        self.events: list[Any] = []

    async def handle(self, event: Shipped) -> None:
        if event.order_id < 0:
            raise ValueError(f"order {event.order_id} is negative")
        seen.append(f"shipped {event.order_id}")
        self.events.append(Noted(order_id=event.order_id))
        self.events.append(Announced(payload={"order_id": event.order_id}))


class NotedHandler:
    async def handle(self, event: Noted) -> None:
        seen.append(f"noted {event.order_id}")


class PassThrough:
    async def __call__(self, message: Any, call_next: CallNext) -> Any:
        return await call_next(message)


def mediator(*, scoped: bool) -> tuple[EventMediator, InMemoryEventEmitter]:
    events = EventMap()
    events.bind(Shipped, ShippedHandler)
    events.bind(Noted, NotedHandler)
    emitter = InMemoryEventEmitter()
    middlewares = [PassThrough()] if scoped else []
    return EventMediator(
        events, DefaultContainer(), emitter=emitter, middlewares=middlewares
    ), emitter


async def run(scoped: bool) -> tuple[list[str], list[Any], EventHandlingError]:
    seen.clear()
    subject, emitter = mediator(scoped=scoped)
    for n in (1, 2, 3):  # the first resolves through a scope; the others may go bare
        await subject.send(Shipped(order_id=n))
    with pytest.raises(EventHandlingError) as caught:
        await subject.send(Shipped(order_id=-1))
    return list(seen), [e.payload for e in emitter.events], caught.value


async def test_the_bare_path_is_taken_once_the_handler_is_known_to_need_nothing() -> None:
    container = DefaultContainer()
    assert not container.builds_bare(ShippedHandler)  # not resolved yet
    async with container.scope():
        await container.resolve(ShippedHandler)
        assert not container.builds_bare(ShippedHandler)  # a scope is open: it may provide()
    assert container.builds_bare(ShippedHandler)
    container.register_instance(ShippedHandler, ShippedHandler())
    assert not container.builds_bare(ShippedHandler)


async def test_bare_and_scoped_paths_give_the_same_outcome_and_errors() -> None:
    bare_seen, bare_emitted, bare_error = await run(scoped=False)
    scoped_seen, scoped_emitted, scoped_error = await run(scoped=True)
    assert (
        bare_seen
        == scoped_seen
        == ["shipped 1", "noted 1", "shipped 2", "noted 2", "shipped 3", "noted 3"]
    )
    assert bare_emitted == scoped_emitted == [{"order_id": n} for n in (1, 2, 3)]
    for error in (bare_error, scoped_error):
        assert [f.handler for f in error.failures] == [ShippedHandler]
        assert isinstance(error.__cause__, ValueError)
        assert error.__cause__ is error.failures[0].exception
        assert error.__context__ is None  # raised after the handler's exception was handled
    assert str(bare_error) == str(scoped_error)


async def test_a_handler_provided_in_an_open_scope_is_not_built_bare() -> None:
    events = EventMap()
    events.bind(Noted, NotedHandler)
    container = DefaultContainer()
    subject = EventMediator(events, container)
    await subject.send(Noted(order_id=1))  # resolved once: known to need nothing
    calls: list[int] = []

    class Provided(NotedHandler):
        async def handle(self, event: Noted) -> None:
            calls.append(event.order_id)

    async with container.scope():
        container.provide(NotedHandler, Provided())  # what a unit of work may do
        await subject.send(Noted(order_id=2))
    assert calls == [2]
