"""An app for the introspection tests: events with and without topics, policies and limits."""

from __future__ import annotations

import pydantic

from cqrs_worker import DomainEvent, EventMap, NotificationEvent, bootstrap_events
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.worker.retry import RetryPolicy


class Money(pydantic.BaseModel):
    amount: int
    currency: str = "EUR"


class Order(pydantic.BaseModel):
    order_id: str
    total: Money


class OrderPlaced(NotificationEvent[Order]):
    """An order was placed.

    Published by the shop.
    """

    event_name: str = "OrderPlaced"
    topic: str = "orders"


class OrderPaid(NotificationEvent[Order]):
    event_name: str = "OrderPaid"
    topic: str = "payments"


class Audited(DomainEvent):
    order_id: str


class Reserve:
    retry_policy = RetryPolicy(max_attempts=2, initial_delay=1.0, permanent=(KeyError,))
    handler_timeout = 2.5

    async def handle(self, event: OrderPlaced) -> None:
        pass


class Notify:
    handler_timeout = 1.5

    async def handle(self, event: OrderPlaced) -> None:
        pass


class Book:
    async def handle(self, event: OrderPaid) -> None:
        pass


class Unbounded:
    handler_timeout = None

    async def handle(self, event: OrderPaid) -> None:
        pass


class Audit:
    async def handle(self, event: Audited) -> None:
        pass


def event_map() -> EventMap:
    events = EventMap()
    events.bind(OrderPlaced, Reserve)
    events.bind(OrderPlaced, Notify)
    events.bind(OrderPaid, Book)
    events.bind(OrderPaid, Unbounded)
    events.bind(NotificationEvent[Money], Book, event_name="Refunded")
    events.bind(Audited, Audit)
    return events


def mediator() -> EventMediator:
    return bootstrap_events(events=event_map())
