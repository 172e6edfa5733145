"""Dataclass messages (python-cqrs 5.3's default models) through our mediators, outbox and codec."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path

import cqrs
import pytest
import sqlalchemy as sa
from cqrs.serializers.default import default_serializer
from sqlalchemy.ext.asyncio import create_async_engine

from cqrs_worker import (
    DCDomainEvent,
    DCNotificationEvent,
    DCRequest,
    DCResponse,
    DefaultContainer,
    EventMap,
    InMemoryEventEmitter,
    NotificationEvent,
    RequestMap,
    bootstrap,
)
from cqrs_worker.envelope import EnvelopeCodec, EventRegistry, encode_event
from cqrs_worker.events import Event
from cqrs_worker.maps import event_name_of, topic_of
from cqrs_worker.outbox import OutboxRepository


@dataclasses.dataclass
class Order:
    order_id: str
    amount: int


class PlaceOrder(DCRequest["Placed"]):
    order_id: str
    amount: int


class Placed(DCResponse):
    order_id: str


class OrderNoted(DCDomainEvent):
    order_id: str


class OrderPlaced(DCNotificationEvent[Order]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"
    payload: Order


@dataclasses.dataclass
class Seen:
    noted: list[str] = dataclasses.field(default_factory=list)
    placed: list[OrderPlaced] = dataclasses.field(default_factory=list)


class PlaceOrderHandler:
    def __init__(self) -> None:
        self.events: list[Event | DCDomainEvent | DCNotificationEvent[Order]] = []

    async def handle(self, request: PlaceOrder) -> Placed:
        self.events.append(OrderNoted(order_id=request.order_id))
        self.events.append(
            OrderPlaced(
                payload=Order(order_id=request.order_id, amount=request.amount),
                partition_key=request.order_id,
            )
        )
        return Placed(order_id=request.order_id)


class NoteOrder:
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def handle(self, event: OrderNoted) -> None:
        self.seen.noted.append(event.order_id)


class RecordPlaced:
    def __init__(self, seen: Seen) -> None:
        self.seen = seen

    async def handle(self, event: OrderPlaced) -> None:
        self.seen.placed.append(event)


def test_subclasses_are_dataclasses_with_to_dict_and_from_dict() -> None:
    request = PlaceOrder(order_id="o-1", amount=5)

    assert dataclasses.is_dataclass(request)
    assert request.to_dict() == {"order_id": "o-1", "amount": 5}
    assert PlaceOrder.from_dict(**request.to_dict()) == request
    event = OrderPlaced(payload=Order(order_id="o-1", amount=5))
    assert event.to_dict()["payload"] == {"order_id": "o-1", "amount": 5}
    assert OrderPlaced.from_dict(**event.to_dict()) == event
    assert hash(event) == hash(event.event_id)  # a dict payload would be unhashable
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.topic = "elsewhere"  # type: ignore[misc]


async def test_the_mediators_take_dataclass_requests_and_events() -> None:
    seen = Seen()
    requests = RequestMap()
    requests.bind(PlaceOrder, PlaceOrderHandler)
    events = EventMap()
    events.bind(OrderNoted, NoteOrder)
    container = DefaultContainer()
    container.register_instance(Seen, seen)
    emitter = InMemoryEventEmitter()
    mediator = bootstrap(requests=requests, events=events, container=container, emitter=emitter)

    placed = await mediator.requests.send(PlaceOrder(order_id="o-7", amount=3))  # type: ignore[arg-type]

    assert placed == Placed(order_id="o-7")
    assert seen.noted == ["o-7"]  # the domain event stayed in-process
    [sent] = emitter.events  # the notification left as our envelope
    assert isinstance(sent, NotificationEvent)
    assert (sent.event_name, sent.topic, sent.partition_key) == ("OrderPlaced", "orders", "o-7")
    assert sent.payload == {"order_id": "o-7", "amount": 3}


def test_an_event_map_knows_a_dataclass_events_name_and_topic() -> None:
    events = EventMap()
    events.bind(OrderPlaced, RecordPlaced)

    assert event_name_of(OrderPlaced) == "OrderPlaced"
    assert topic_of(OrderPlaced) == "orders"
    assert dict(EventRegistry.from_event_map(events)) == {"OrderPlaced": OrderPlaced}


def codec() -> EnvelopeCodec:
    events = EventMap()
    events.bind(OrderPlaced, RecordPlaced)
    return EnvelopeCodec(EventRegistry.from_event_map(events))


def test_our_envelope_of_a_dataclass_event_decodes_back_into_it() -> None:
    event = OrderPlaced(payload=Order(order_id="o-2", amount=9), partition_key="o-2")

    decoded = codec().decode(encode_event(event.to_wire()), "OrderPlaced")

    assert decoded == event  # type: ignore[comparison-overlap]


@dataclasses.dataclass(frozen=True)
class TheirOrder:
    order_id: str
    amount: int


class TheirOrderPlaced(cqrs.NotificationEvent[TheirOrder]):
    payload: TheirOrder


def test_a_python_cqrs_dataclass_envelope_decodes_into_our_dataclass_event() -> None:
    theirs = TheirOrderPlaced(
        event_name="OrderPlaced", topic="orders", payload=TheirOrder(order_id="o-3", amount=4)
    )

    decoded = codec().decode(bytes(default_serializer(theirs)))  # camelCase keys, hex id

    assert isinstance(decoded, OrderPlaced)
    assert decoded.event_id == theirs.event_id
    assert decoded.payload == Order(order_id="o-3", amount=4)


async def test_the_outbox_stores_a_dataclass_event_as_our_envelope(tmp_path: Path) -> None:
    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'outbox.db'}")
    repository = OutboxRepository()
    event = OrderPlaced(payload=Order(order_id="o-4", amount=1), partition_key="o-4")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(repository.table.metadata.create_all)
            await repository.add(connection, event)
        async with engine.connect() as connection:
            row = (await connection.execute(sa.select(repository.table))).mappings().one()
    finally:
        await engine.dispose()

    assert uuid.UUID(str(row["event_id"])) == event.event_id
    assert (row["event_name"], row["topic"], row["partition_key"]) == (
        "OrderPlaced",
        "orders",
        "o-4",
    )
    assert codec().decode(row["payload"], "OrderPlaced") == event
