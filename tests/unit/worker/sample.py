"""Events, handlers and a mediator the worker unit tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pydantic

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events
from cqrs_worker.brokers import OutgoingMessage
from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.memory import InMemoryMessage


class Order(pydantic.BaseModel):
    n: int
    fail: int = 0
    """Fail this many attempts before succeeding (-1: always)."""


class OrderPlaced(NotificationEvent[Order]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class Shipped(NotificationEvent[Order]):
    event_name: str = "Shipped"
    topic: str = "shipments"


@dataclass
class Journal:
    """What handlers did; ``gate`` (when set) holds every handler until released."""

    handled: list[int] = field(default_factory=list)
    attempts: dict[int, int] = field(default_factory=dict)
    running: int = 0
    peak: int = 0
    gate: asyncio.Event | None = None
    on_handle: Callable[[int], None] | None = None


class RecordOrder:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def handle(self, event: OrderPlaced | Shipped) -> None:
        journal, n = self.journal, event.payload.n
        journal.attempts[n] = journal.attempts.get(n, 0) + 1
        journal.running += 1
        journal.peak = max(journal.peak, journal.running)
        try:
            if journal.gate is not None:
                await journal.gate.wait()
            else:
                await asyncio.sleep(0)
            fail = event.payload.fail
            if fail < 0 or journal.attempts[n] <= fail:
                raise RuntimeError(f"order {n} failed on attempt {journal.attempts[n]}")
            journal.handled.append(n)
            if journal.on_handle is not None:
                journal.on_handle(n)
        finally:
            journal.running -= 1


def mediator(journal: Journal | None = None) -> EventMediator:
    events = EventMap()
    events.bind(OrderPlaced, RecordOrder)
    events.bind(Shipped, RecordOrder)
    container = DefaultContainer()
    container.register_instance(Journal, journal if journal is not None else Journal())
    return bootstrap_events(events=events, container=container, middlewares=())


def placed(n: int, *, key: str | None = None, fail: int = 0) -> OrderPlaced:
    return OrderPlaced(payload=Order(n=n, fail=fail), partition_key=key)


def delivery_of(event: OrderPlaced | Shipped, *, lane: object = None, offset: int = 0) -> Delivery:
    """A delivery of ``event`` as the in-memory source makes it."""
    message = OutgoingMessage.from_event(event)
    return raw_delivery(
        message.body, topic=event.topic, headers=message.headers, lane=lane, offset=offset
    )


def raw_delivery(
    body: bytes,
    *,
    topic: str = "orders",
    headers: Mapping[str, str] | None = None,
    lane: object = None,
    offset: int = 0,
) -> Delivery:
    headers = dict(headers or {})
    raw = InMemoryMessage(topic=topic, body=body, headers=headers, offset=offset)
    return Delivery(
        body=body, event_name=headers.get("event_name"), lane=lane, raw=raw, destination=topic
    )
