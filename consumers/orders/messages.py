"""The messages of the orders example."""

from __future__ import annotations

import os
from dataclasses import dataclass

import pydantic

from cqrs_worker import Command, NotificationEvent, Response
from cqrs_worker.sagas import SagaMessage, SagaReply


@dataclass(frozen=True)
class Topics:
    orders: str
    replies: str
    warehouse: str

    @classmethod
    def from_env(cls) -> Topics:
        return cls(
            orders=os.environ.get("ORDERS_TOPIC", "orders"),
            replies=os.environ.get("ORDERS_REPLIES_TOPIC", "order-replies"),
            warehouse=os.environ.get("ORDERS_WAREHOUSE_TOPIC", "warehouse"),
        )


class Order(pydantic.BaseModel):
    """The saga's context: what every step needs, and what compensations need."""

    order_id: str
    sku: str
    quantity: int
    amount: float
    address: str


class OrderPlaced(NotificationEvent[Order]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class StockRequest(SagaMessage):
    order_id: str
    sku: str = ""
    quantity: int = 0
    address: str = ""


class ReserveStock(NotificationEvent[StockRequest]):
    event_name: str = "ReserveStock"
    topic: str = "warehouse"


class ReleaseStock(NotificationEvent[StockRequest]):
    event_name: str = "ReleaseStock"
    topic: str = "warehouse"


class ShipOrder(NotificationEvent[StockRequest]):
    event_name: str = "ShipOrder"
    topic: str = "warehouse"


class CancelShipment(NotificationEvent[StockRequest]):
    event_name: str = "CancelShipment"
    topic: str = "warehouse"


class StockReserved(NotificationEvent[SagaReply]):
    """The warehouse's answer to ReserveStock (``ok=False``: out of stock)."""

    event_name: str = "StockReserved"
    topic: str = "order-replies"


class Shipped(NotificationEvent[SagaReply]):
    """The warehouse's answer to ShipOrder (``ok=False``: cannot ship there)."""

    event_name: str = "Shipped"
    topic: str = "order-replies"


class ChargePayment(Command):
    order_id: str
    amount: float


class RefundPayment(Command):
    order_id: str
    amount: float


class Charged(Response):
    amount: float
