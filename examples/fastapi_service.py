"""An HTTP service on FastAPI: commands write a row and its outbox event in one transaction.

Run from the repository root: ``python -m examples.fastapi_service [DATABASE_URL]``
(default: a SQLite file). It starts the app in-process (lifespan included) and
plays a short session through httpx: an order is placed (201), one is
declined (409, and neither its row nor its event exists), it is read back
(200), an unknown one is asked for (404) and a malformed one is sent (422);
then it prints how many events wait for the relay: 1.

To serve it: ``SHOP_DATABASE_URL=postgresql+asyncpg://... uvicorn --factory
examples.fastapi_service:create_app``, and publish the outbox with
``cqrs-worker relay``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pydantic
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cqrs_worker import (
    Command,
    DefaultContainer,
    NotificationEvent,
    Query,
    RequestMap,
    Response,
    bootstrap,
)
from cqrs_worker.contrib.fastapi import Lifespan, Mediator, ProblemRegistry, setup
from cqrs_worker.events import Event
from cqrs_worker.inbox import UnitOfWork
from cqrs_worker.outbox import OutboxRepository, outbox_table

CREDIT_LIMIT = 500


# -- the domain: messages, errors, handlers (they know nothing about HTTP) --


class PlaceOrder(Command):
    order_id: str
    customer: str
    total: int = pydantic.Field(gt=0)


class GetOrder(Query):
    order_id: str


class OrderView(Response):
    order_id: str
    customer: str
    total: int


class Placed(pydantic.BaseModel):
    order_id: str
    total: int


class OrderPlaced(NotificationEvent[Placed]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class OrderNotFound(Exception):
    pass


class CreditLimitExceeded(Exception):
    pass


class Schema:
    """The service's tables: orders, and the outbox beside them."""

    def __init__(self, prefix: str = "shop") -> None:
        self.metadata = sa.MetaData()
        self.orders = sa.Table(
            f"{prefix}_orders",
            self.metadata,
            sa.Column("id", sa.String(36), primary_key=True),
            sa.Column("customer", sa.String(100), nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
        )
        self.outbox = OutboxRepository(outbox_table(self.metadata, name=f"{prefix}_outbox"))


class PlaceOrderHandler:
    def __init__(self, session: AsyncSession, schema: Schema) -> None:
        self.session = session  # the request's transaction, provided by the unit of work
        self.schema = schema
        self.events: list[Event] = []

    async def handle(self, command: PlaceOrder) -> None:
        await self.session.execute(
            sa.insert(self.schema.orders).values(
                id=command.order_id, customer=command.customer, total=command.total
            )
        )
        self.events.append(
            OrderPlaced(
                partition_key=command.order_id,
                payload=Placed(order_id=command.order_id, total=command.total),
            )
        )
        if command.total > CREDIT_LIMIT:  # after the writes: they roll back
            raise CreditLimitExceeded(f"{command.customer} may order up to {CREDIT_LIMIT}")


class GetOrderHandler:
    def __init__(self, session: AsyncSession, schema: Schema) -> None:
        self.session = session
        self.schema = schema

    async def handle(self, query: GetOrder) -> OrderView:
        orders = self.schema.orders
        row = (
            await self.session.execute(sa.select(orders).where(orders.c.id == query.order_id))
        ).first()
        if row is None:
            raise OrderNotFound(f"there is no order {query.order_id}")
        return OrderView(order_id=row.id, customer=row.customer, total=row.total)


# -- the HTTP side --


class OrderIn(pydantic.BaseModel):
    customer: str
    total: int


class Created(pydantic.BaseModel):
    order_id: str


class Database:
    """The engine as a lifespan resource: tables created at start, pool closed at stop."""

    def __init__(self, url: str, schema: Schema) -> None:
        self.engine: AsyncEngine = create_async_engine(url)
        self.schema = schema
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)

    async def __aenter__(self) -> Database:
        async with self.engine.begin() as conn:
            await conn.run_sync(self.schema.metadata.create_all)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.engine.dispose()


def create_app(url: str | None = None, *, prefix: str = "shop") -> FastAPI:
    url = url or os.environ.get("SHOP_DATABASE_URL", "sqlite+aiosqlite:///shop.db")
    schema = Schema(prefix)
    database = Database(url, schema)

    container = DefaultContainer()
    container.register_instance(Schema, schema)
    unit_of_work = UnitOfWork(database.sessions, container=container, outbox=schema.outbox)
    requests = RequestMap()
    requests.bind(PlaceOrder, PlaceOrderHandler)
    requests.bind(GetOrder, GetOrderHandler)
    mediators = bootstrap(
        requests=requests,
        container=container,
        emitter=unit_of_work.emitter,  # emitted events -> outbox rows in the request's transaction
    )

    problems = ProblemRegistry()
    problems.register(OrderNotFound, status=404, title="Order not found")
    problems.register(
        CreditLimitExceeded,
        status=409,
        title="Credit limit exceeded",
        type="/problems/credit-limit",
    )

    app = FastAPI(lifespan=Lifespan(database))  # add brokers here: Lifespan(database, broker)
    setup(app, mediator=mediators.requests, unit_of_work=unit_of_work, problems=problems)

    @app.post("/orders", status_code=201)
    async def place_order(body: OrderIn, mediator: Mediator) -> Created:
        order_id = str(uuid.uuid4())
        await mediator.send(PlaceOrder(order_id=order_id, customer=body.customer, total=body.total))
        return Created(order_id=order_id)  # committed before this response is sent

    @app.get("/orders/{order_id}")
    async def get_order(order_id: str, mediator: Mediator) -> OrderView:
        view: OrderView = await mediator.send(GetOrder(order_id=order_id))
        return view

    app.state.database = database
    return app


@asynccontextmanager
async def running(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app started (its lifespan entered) and a client that calls it in-process."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://shop") as client:
            yield client


async def main(url: str, *, prefix: str = "shop") -> int:
    """Play the session; return how many events wait in the outbox."""
    app = create_app(url, prefix=prefix)
    async with running(app) as client:
        placed = await client.post("/orders", json={"customer": "ada", "total": 120})
        print(placed.status_code, placed.json())
        declined = await client.post("/orders", json={"customer": "bob", "total": 900})
        print(declined.status_code, declined.headers["content-type"], declined.json())
        order = await client.get(f"/orders/{placed.json()['order_id']}")
        print(order.status_code, order.json())
        missing = await client.get("/orders/nope")
        print(missing.status_code, missing.json())
        malformed = await client.post("/orders", json={"customer": "eve", "total": -1})
        print(malformed.status_code, malformed.json())
        database: Database = app.state.database
        async with database.engine.connect() as conn:
            stats = await database.schema.outbox.stats(conn)
    print(f"events waiting for the relay: {stats.pending}")  # 1: the declined order left none
    return stats.pending


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1] if len(sys.argv) > 1 else "sqlite+aiosqlite:///shop.db"))
