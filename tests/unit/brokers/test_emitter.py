"""BrokerEventEmitter: emitted Notification/ECST events are published after the handler returns."""

from __future__ import annotations

import pydantic
import pytest

from cqrs_worker import EnvelopeCodec, Event, EventRegistry, NotificationEvent, RequestMap
from cqrs_worker.bootstrap import bootstrap_requests
from cqrs_worker.brokers import BrokerEventEmitter, InMemoryBroker
from cqrs_worker.emitter import EventEmitter
from cqrs_worker.errors import PublishError
from cqrs_worker.requests import Command


class OrderPayload(pydantic.BaseModel):
    order_id: str


class OrderPlaced(NotificationEvent[OrderPayload]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class PlaceOrder(Command):
    order_id: str
    fail: bool = False


class PlaceOrderHandler:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def handle(self, request: PlaceOrder) -> None:
        self.events.append(
            OrderPlaced(
                partition_key=request.order_id, payload=OrderPayload(order_id=request.order_id)
            )
        )
        if request.fail:
            raise RuntimeError("the order could not be saved")


@pytest.fixture
async def broker() -> InMemoryBroker:
    broker = InMemoryBroker()
    await broker.start()
    return broker


def requests() -> RequestMap:
    request_map = RequestMap()
    request_map.bind(PlaceOrder, PlaceOrderHandler)
    return request_map


async def test_emit_publishes_the_envelope_to_the_topic_keyed_by_partition_key(
    broker: InMemoryBroker,
) -> None:
    emitter: EventEmitter = BrokerEventEmitter(broker)
    event = OrderPlaced(partition_key="o-1", payload=OrderPayload(order_id="o-1"))

    await emitter.emit(event)

    (message,) = broker.messages("orders")
    assert message.key == "o-1"
    assert message.headers["event_id"] == str(event.event_id)
    registry = EventRegistry()
    registry.register(OrderPlaced)
    assert EnvelopeCodec(registry).decode(message.body) == event


async def test_events_a_handler_emits_are_published_when_it_returns(
    broker: InMemoryBroker,
) -> None:
    mediator = bootstrap_requests(requests=requests(), emitter=BrokerEventEmitter(broker))

    await mediator.send(PlaceOrder(order_id="o-2"))

    assert [m.key for m in broker.messages("orders")] == ["o-2"]


async def test_a_handler_that_raises_publishes_nothing(broker: InMemoryBroker) -> None:
    mediator = bootstrap_requests(requests=requests(), emitter=BrokerEventEmitter(broker))

    with pytest.raises(RuntimeError, match="could not be saved"):
        await mediator.send(PlaceOrder(order_id="o-3", fail=True))

    assert broker.published_count() == 0


async def test_a_publish_failure_reaches_the_caller(broker: InMemoryBroker) -> None:
    mediator = bootstrap_requests(requests=requests(), emitter=BrokerEventEmitter(broker))
    broker.reachable = False

    with pytest.raises(PublishError, match="unreachable"):
        await mediator.send(PlaceOrder(order_id="o-4"))
