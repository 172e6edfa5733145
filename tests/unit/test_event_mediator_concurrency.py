"""EventMediator(max_concurrent_event_handlers=N): one event's handlers run N at a time.

The failure policy is the sequential one: every handler runs, every failure
is in the EventHandlingError, and nothing any handler emitted is dispatched.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest

from cqrs_worker.bootstrap import bootstrap_events
from cqrs_worker.container import DefaultContainer
from cqrs_worker.emitter import InMemoryEventEmitter
from cqrs_worker.errors import ConfigurationError, EventHandlingError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.events import DomainEvent, Event
from cqrs_worker.maps import EventMap


class Paid(DomainEvent):
    order: str


class Receipted(DomainEvent):
    order: str


@dataclass
class Room:
    """Handlers meet here: ``expected`` of them must be inside at once to leave."""

    expected: int
    inside: int = 0
    peak: int = 0
    order: list[str] = field(default_factory=list)
    full: asyncio.Event = field(default_factory=asyncio.Event)

    async def visit(self, name: str, *, wait: bool) -> None:
        self.inside += 1
        self.peak = max(self.peak, self.inside)
        if self.inside >= self.expected:
            self.full.set()
        try:
            if wait:
                await self.full.wait()
            else:
                await asyncio.sleep(0)
            self.order.append(name)
        finally:
            self.inside -= 1


class Waiter:
    """Leaves only once the room is full: proves the handlers overlap."""

    def __init__(self, room: Room) -> None:
        self.room = room
        self.events: list[Event] = []

    async def handle(self, event: Paid) -> None:
        await self.room.visit(type(self).__name__, wait=True)
        self.events.append(Receipted(order=event.order))


class Mail(Waiter):
    pass


class Ledger(Waiter):
    pass


class Stock(Waiter):
    pass


class Passer(Waiter):
    async def handle(self, event: Paid) -> None:
        await self.room.visit(type(self).__name__, wait=False)
        self.events.append(Receipted(order=event.order))


class Audit(Passer):
    pass


class Broken(Passer):
    async def handle(self, event: Paid) -> None:
        await super().handle(event)
        raise RuntimeError(f"{type(self).__name__} broke")


class AlsoBroken(Broken):
    pass


class Receipts(list[str]):
    pass


class RecordReceipt:
    def __init__(self, received: Receipts) -> None:
        self.received = received

    async def handle(self, event: Receipted) -> None:
        self.received.append(event.order)


def mediator(room: Room, *handlers: type, limit: int) -> tuple[EventMediator, list[str]]:
    events = EventMap()
    for handler in handlers:
        events.bind(Paid, handler)
    events.bind(Receipted, RecordReceipt)
    received = Receipts()
    container = DefaultContainer()
    container.register_instance(Room, room)
    container.register_instance(Receipts, received)
    return bootstrap_events(
        events=events,
        container=container,
        emitter=InMemoryEventEmitter(),
        max_concurrent_event_handlers=limit,
    ), received


async def test_handlers_of_one_event_run_at_once_up_to_the_bound() -> None:
    room = Room(expected=3)
    events, received = mediator(room, Mail, Ledger, Stock, limit=3)

    # Each Waiter returns only when all three are inside: sequentially this would hang.
    await asyncio.wait_for(events.send(Paid(order="o-1")), timeout=10)

    assert room.peak == 3
    assert sorted(room.order) == ["Ledger", "Mail", "Stock"]
    assert received == ["o-1", "o-1", "o-1"]  # every handler's follow-up dispatched


async def test_the_bound_holds_more_handlers_back() -> None:
    room = Room(expected=2)
    events, _ = mediator(room, Mail, Ledger, Audit, limit=2)

    await asyncio.wait_for(events.send(Paid(order="o-1")), timeout=10)

    assert room.peak == 2
    assert room.order[-1] == "Audit"  # it waited for a free slot


async def test_the_default_is_one_at_a_time_in_bind_order() -> None:
    room = Room(expected=99)
    events, _ = mediator(room, Audit, Passer, limit=1)

    await events.send(Paid(order="o-1"))

    assert room.peak == 1
    assert room.order == ["Audit", "Passer"]


@pytest.mark.parametrize("limit", [1, 4])
async def test_every_failure_is_reported_all_run_and_nothing_is_emitted(limit: int) -> None:
    room = Room(expected=99)
    events, received = mediator(room, Broken, Audit, AlsoBroken, Passer, limit=limit)

    with pytest.raises(EventHandlingError) as caught:
        await events.send(Paid(order="o-1"))

    assert [f.handler for f in caught.value.failures] == [Broken, AlsoBroken]  # bind order
    assert isinstance(caught.value.__cause__, RuntimeError)
    assert sorted(room.order) == ["AlsoBroken", "Audit", "Broken", "Passer"]
    assert received == []


async def test_one_handler_with_a_bound_runs_as_usual() -> None:
    room = Room(expected=1)
    events, received = mediator(room, Audit, limit=4)

    await events.send(Paid(order="o-1"))

    assert received == ["o-1"]


def test_a_bound_below_one_is_refused() -> None:
    with pytest.raises(
        ConfigurationError, match="max_concurrent_event_handlers must be at least 1"
    ):
        EventMediator(EventMap(), DefaultContainer(), max_concurrent_event_handlers=0)
