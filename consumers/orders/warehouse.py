"""The warehouse service: applies stock and shipping requests once, and replies.

Each request is one unit of work with the warehouse's own inbox: the effect
row, the inbox record and the reply in the outbox commit together, so a
redelivered request neither repeats the effect nor sends a second reply.
Compensations (ReleaseStock, CancelShipment) are applied once the same way;
they are not answered. A compensation of something never applied here is
recorded all the same (it is harmless; the row says what was asked).
"""

from __future__ import annotations

import os
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from consumers.meetings.env import setting
from consumers.orders.messages import (
    CancelShipment,
    ReleaseStock,
    ReserveStock,
    ShipOrder,
    Shipped,
    StockReserved,
    Topics,
)
from consumers.orders.schema import Schema
from consumers.orders.service import kafka_relay
from cqrs_worker import DefaultContainer, EventEmitter, EventMap, bootstrap
from cqrs_worker.inbox import Inbox, UnitOfWork
from cqrs_worker.outbox import EventProducer
from cqrs_worker.sagas import SagaReply
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings

#: Most of one SKU a single order can reserve.
STOCK_PER_ORDER = 100


class _Handler:
    def __init__(self, session: AsyncSession, schema: Schema, emitter: EventEmitter) -> None:
        self.session = session
        self.schema = schema
        self.emitter = emitter

    async def record(self, table: sa.Table, order_id: str, detail: str = "") -> None:
        await self.session.execute(sa.insert(table).values(order_id=order_id, detail=detail))

    async def reply(self, kind: type[Any], order_id: str, reply: SagaReply) -> None:
        replies = Topics.from_env().replies
        await self.emitter.emit(kind(topic=replies, partition_key=order_id, payload=reply))


class OnReserveStock(_Handler):
    async def handle(self, event: ReserveStock) -> None:
        p = event.payload
        if p.quantity > STOCK_PER_ORDER:
            reply = SagaReply(saga_id=p.saga_id, step=p.step, ok=False, error="out of stock")
        else:
            await self.record(self.schema.reservations, p.order_id, f"{p.sku} x{p.quantity}")
            reply = SagaReply(saga_id=p.saga_id, step=p.step, result={"sku": p.sku})
        await self.reply(StockReserved, p.order_id, reply)


class OnReleaseStock(_Handler):
    async def handle(self, event: ReleaseStock) -> None:
        await self.record(self.schema.releases, event.payload.order_id)


class OnShipOrder(_Handler):
    async def handle(self, event: ShipOrder) -> None:
        p = event.payload
        if not p.address:
            reply = SagaReply(saga_id=p.saga_id, step=p.step, ok=False, error="no address")
            await self.reply(Shipped, p.order_id, reply)
            return
        await self.record(self.schema.shipments, p.order_id, p.address)
        if p.address.startswith("void"):
            return  # a carrier that never answers: the saga's ship step times out
        await self.reply(Shipped, p.order_id, SagaReply(saga_id=p.saga_id, step=p.step))


class OnCancelShipment(_Handler):
    async def handle(self, event: CancelShipment) -> None:
        await self.record(self.schema.cancellations, event.payload.order_id)


def build() -> Worker:
    """The worker (``cqrs-worker run consumers.orders.warehouse:build --factory``)."""
    schema = Schema()
    engine = create_async_engine(
        setting("ORDERS_DATABASE_URL"), pool_size=int(os.environ.get("ORDERS_POOL_SIZE", "10"))
    )
    container = DefaultContainer()
    container.register_instance(Schema, schema)
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="warehouse", table=schema.warehouse_inbox),
        outbox=schema.warehouse_outbox,
    )
    events = EventMap()
    events.bind(ReserveStock, OnReserveStock)
    events.bind(ReleaseStock, OnReleaseStock)
    events.bind(ShipOrder, OnShipOrder)
    events.bind(CancelShipment, OnCancelShipment)
    mediators = bootstrap(events=events, container=container, emitter=unit_of_work.emitter)
    return Worker(mediators.events, load_settings(), middlewares=[unit_of_work])


def relay() -> EventProducer:
    """``cqrs-worker relay consumers.orders.warehouse:relay --factory``: replies to the orders."""
    return kafka_relay(Schema().warehouse_outbox)
