"""The orders service: OrderPlaced starts the order saga; replies move it.

The worker consumes ``OrderPlaced`` (starts a saga, with the order id as saga
id) and the warehouse's replies. Each delivery is one unit of work: the inbox
record, the saga row, the payment or refund row and the outbox rows of the
requests and compensations commit together. ``sagas.watch`` runs beside the
sources and times out the ship and reservation steps.
"""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from consumers.meetings.env import setting
from consumers.orders.messages import Charged, ChargePayment, OrderPlaced, RefundPayment, Topics
from consumers.orders.saga import define
from consumers.orders.schema import Schema
from cqrs_worker import DefaultContainer, EventMap, RequestMap, bootstrap
from cqrs_worker.brokers import KafkaMessageBroker, kafka_producer_factory
from cqrs_worker.errors import PermanentError
from cqrs_worker.event_mediator import EventMediator
from cqrs_worker.inbox import Inbox, UnitOfWork
from cqrs_worker.outbox import EventProducer, OutboxRepository
from cqrs_worker.sagas import Sagas
from cqrs_worker.worker.app import Worker
from cqrs_worker.worker.settings import load_settings

#: Saga ids are derived from order ids: placing one order twice starts one saga.
ORDER_NAMESPACE = uuid.UUID("5b1f0c8e-8f6a-4a49-9c43-5f0f3e7f1a11")


class PaymentDeclined(PermanentError):
    """The payment provider said no (here: amounts above 1,000)."""


def saga_id_of(order_id: str) -> uuid.UUID:
    return uuid.uuid5(ORDER_NAMESPACE, order_id)


class OnOrderPlaced:
    def __init__(self, sagas: Sagas) -> None:
        self.sagas = sagas

    async def handle(self, event: OrderPlaced) -> None:
        await self.sagas.start("order", event.payload, saga_id=saga_id_of(event.payload.order_id))


class ChargePaymentHandler:
    def __init__(self, session: AsyncSession, schema: Schema) -> None:
        self.session = session
        self.schema = schema

    async def handle(self, command: ChargePayment) -> Charged:
        if command.amount > 1000:
            raise PaymentDeclined(f"payment of {command.amount} declined")
        await self.session.execute(
            sa.insert(self.schema.payments).values(
                order_id=command.order_id, detail=f"{command.amount:.2f}"
            )
        )
        return Charged(amount=command.amount)


class RefundPaymentHandler:
    def __init__(self, session: AsyncSession, schema: Schema) -> None:
        self.session = session
        self.schema = schema

    async def handle(self, command: RefundPayment) -> None:
        await self.session.execute(
            sa.insert(self.schema.refunds).values(
                order_id=command.order_id, detail=f"{command.amount:.2f}"
            )
        )


def wire(
    engine: AsyncEngine, schema: Schema, *, topics: Topics, reply_timeout: float = 60.0
) -> tuple[Sagas, EventMediator, UnitOfWork]:
    """The saga set, the event mediator and the unit of work of the orders service."""
    container = DefaultContainer()
    container.register_instance(Schema, schema)
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="orders", table=schema.orders_inbox),
        outbox=schema.orders_outbox,
    )
    sagas = Sagas(
        [define(topics, reply_timeout=reply_timeout)], unit_of_work=unit_of_work, store=schema.sagas
    )
    container.register_instance(Sagas, sagas)
    events = EventMap()
    events.bind(OrderPlaced, OnOrderPlaced)
    sagas.bind(events)
    requests = RequestMap()
    requests.bind(ChargePayment, ChargePaymentHandler)
    requests.bind(RefundPayment, RefundPaymentHandler)
    mediators = bootstrap(
        events=events, requests=requests, container=container, emitter=unit_of_work.emitter
    )
    return sagas, mediators.events, unit_of_work


def _wire() -> tuple[Sagas, EventMediator, UnitOfWork]:
    engine = create_async_engine(
        setting("ORDERS_DATABASE_URL"), pool_size=int(os.environ.get("ORDERS_POOL_SIZE", "10"))
    )
    return wire(
        engine,
        Schema(),
        topics=Topics.from_env(),
        reply_timeout=float(os.environ.get("ORDERS_REPLY_TIMEOUT", "60")),
    )


def build() -> Worker:
    """The worker (``cqrs-worker run consumers.orders.service:build --factory``)."""
    saga_set, mediator, unit_of_work = _wire()
    return Worker(
        mediator,
        load_settings(),
        middlewares=[unit_of_work],
        background=[saga_set.watch],
        collectors=[saga_set.collector()],
    )


def sagas() -> Sagas:
    """For ``cqrs-worker sagas ACTION consumers.orders.service:sagas --factory``."""
    return _wire()[0]


def relay() -> EventProducer:
    """``cqrs-worker relay consumers.orders.service:relay --factory``: requests to the warehouse."""
    return kafka_relay(Schema().orders_outbox)


def kafka_relay(repository: OutboxRepository) -> EventProducer:
    """A relay of ``repository``'s rows to ``ORDERS_KAFKA``."""
    idempotence = os.environ.get("ORDERS_KAFKA_IDEMPOTENCE", "true") == "true"
    return EventProducer(
        create_async_engine(setting("ORDERS_DATABASE_URL")),
        KafkaMessageBroker(
            kafka_producer_factory(setting("ORDERS_KAFKA"), enable_idempotence=idempotence)
        ),
        repository=repository,
    )
