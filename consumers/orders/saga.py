"""The order saga: reserve stock (warehouse), charge payment (here), ship (warehouse)."""

from __future__ import annotations

from consumers.orders.messages import (
    CancelShipment,
    ChargePayment,
    Order,
    RefundPayment,
    ReleaseStock,
    ReserveStock,
    ShipOrder,
    Shipped,
    StockReserved,
    Topics,
)
from cqrs_worker.sagas import LocalStep, RemoteStep, SagaDefinition, StepCall

Call = StepCall[Order]


def define(topics: Topics, *, reply_timeout: float = 60.0) -> SagaDefinition[Order]:
    """The definition, with this deployment's topics."""
    to_warehouse = topics.warehouse
    return SagaDefinition(
        name="order",
        context=Order,
        steps=[
            RemoteStep(
                name="reserve_stock",
                request=lambda c: ReserveStock(
                    topic=to_warehouse,
                    partition_key=c.context.order_id,
                    payload=c.message(
                        order_id=c.context.order_id, sku=c.context.sku, quantity=c.context.quantity
                    ),
                ),
                replies=(StockReserved,),
                compensation=lambda c: ReleaseStock(
                    topic=to_warehouse,
                    partition_key=c.context.order_id,
                    payload=c.message(order_id=c.context.order_id),
                ),
                timeout=reply_timeout,
            ),
            LocalStep(
                name="charge_payment",
                action=lambda c: ChargePayment(
                    order_id=c.context.order_id, amount=c.context.amount
                ),
                compensation=lambda c: RefundPayment(
                    order_id=c.context.order_id, amount=c.context.amount
                ),
            ),
            RemoteStep(
                name="ship",
                request=lambda c: ShipOrder(
                    topic=to_warehouse,
                    partition_key=c.context.order_id,
                    payload=c.message(order_id=c.context.order_id, address=c.context.address),
                ),
                replies=(Shipped,),
                compensation=lambda c: CancelShipment(
                    topic=to_warehouse,
                    partition_key=c.context.order_id,
                    payload=c.message(order_id=c.context.order_id),
                ),
                timeout=reply_timeout,
            ),
        ],
    )


#: With the default topics (``cqrs-worker sagas diagram consumers.orders.saga:order_saga``).
order_saga = define(Topics(orders="orders", replies="order-replies", warehouse="warehouse"))
