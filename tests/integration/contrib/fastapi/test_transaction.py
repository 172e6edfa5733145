"""A request's commands, their rows and their outbox events commit together, on PostgreSQL.

Through the app over httpx's ASGI transport: the route sends commands through
``Mediator``; the unit of work's transaction commits before the response
when the route returns, and rolls back when it raises.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import orjson
import pydantic
import pytest
import sqlalchemy as sa
from fastapi import FastAPI, HTTPException
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cqrs_worker import Command, DefaultContainer, NotificationEvent, RequestMap, bootstrap
from cqrs_worker.contrib.fastapi import PROBLEM_JSON, Mediator, ProblemRegistry, Session, setup
from cqrs_worker.events import Event
from cqrs_worker.inbox import UnitOfWork
from cqrs_worker.outbox import OutboxRepository, outbox_table
from tests.support.names import unique_name

pytestmark = pytest.mark.postgres


class Placed(pydantic.BaseModel):
    order_id: str


class OrderPlaced(NotificationEvent[Placed]):
    event_name: str = "OrderPlaced"
    topic: str = "orders"


class PlaceOrder(Command):
    order_id: str
    reference: str
    decline: bool = False


class Declined(Exception):
    pass


@dataclass
class Tables:
    orders: sa.Table
    outbox: OutboxRepository
    metadata: sa.MetaData


class PlaceOrderHandler:
    def __init__(self, session: AsyncSession, tables: Tables) -> None:
        self.session = session
        self.tables = tables
        self.events: list[Event] = []

    async def handle(self, command: PlaceOrder) -> None:
        await self.session.execute(
            sa.insert(self.tables.orders).values(id=command.order_id, reference=command.reference)
        )
        self.events.append(
            OrderPlaced(partition_key=command.order_id, payload=Placed(order_id=command.order_id))
        )
        if command.decline:
            raise Declined(f"order {command.order_id} was declined")


class OrderIn(pydantic.BaseModel):
    orders: list[PlaceOrder]
    then_fail: bool = False


@dataclass
class Service:
    api: httpx.AsyncClient
    engine: AsyncEngine
    tables: Tables

    async def orders(self) -> list[str]:
        orders = self.tables.orders
        async with self.engine.connect() as conn:
            return list((await conn.scalars(sa.select(orders.c.id).order_by(orders.c.id))).all())

    async def events(self) -> list[str]:
        outbox = self.tables.outbox.table
        async with self.engine.connect() as conn:
            payloads = (await conn.scalars(sa.select(outbox.c.payload).order_by(outbox.c.id))).all()
        return [orjson.loads(p)["payload"]["order_id"] for p in payloads]


def build_app(engine: AsyncEngine, tables: Tables) -> FastAPI:
    container = DefaultContainer()
    container.register_instance(Tables, tables)
    unit_of_work = UnitOfWork(async_sessionmaker(engine), container=container, outbox=tables.outbox)
    requests = RequestMap()
    requests.bind(PlaceOrder, PlaceOrderHandler)
    mediators = bootstrap(requests=requests, container=container, emitter=unit_of_work.emitter)
    problems = ProblemRegistry()
    problems.register(Declined, status=409)
    problems.register(sa.exc.IntegrityError, status=409, detail=None)
    app = FastAPI()
    setup(app, mediator=mediators.requests, unit_of_work=unit_of_work, problems=problems)

    @app.post("/orders", status_code=201)
    async def place(body: OrderIn, mediator: Mediator, session: Session) -> dict[str, int]:
        for order in body.orders:
            await mediator.send(order)
        if body.then_fail:
            raise HTTPException(400, detail="changed my mind")
        # The route reads in the same transaction: its writes are visible, uncommitted.
        seen = await session.scalar(sa.select(sa.func.count()).select_from(tables.orders))
        return {"seen": int(seen or 0)}

    return app


@pytest.fixture
async def service(postgres_url: str) -> AsyncIterator[Service]:
    engine = create_async_engine(postgres_url)
    prefix = unique_name("api").replace("-", "_")[:30]
    metadata = sa.MetaData()
    orders = sa.Table(
        f"{prefix}_orders",
        metadata,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("reference", sa.String(40), nullable=False),
        # Checked at COMMIT: a duplicate fails the commit, not the INSERT.
        sa.UniqueConstraint("reference", deferrable=True, initially="DEFERRED"),
    )
    tables = Tables(
        orders, OutboxRepository(outbox_table(metadata, name=f"{prefix}_outbox")), metadata
    )
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    transport = httpx.ASGITransport(app=build_app(engine, tables))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as api:
            yield Service(api, engine, tables)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()


def order(
    order_id: str, *, reference: str | None = None, decline: bool = False
) -> dict[str, object]:
    return {"order_id": order_id, "reference": reference or f"ref-{order_id}", "decline": decline}


async def test_a_command_writes_its_row_and_its_outbox_event_in_one_transaction(
    service: Service,
) -> None:
    answer = await service.api.post("/orders", json={"orders": [order("o-1")]})
    assert answer.status_code == 201, answer.text
    assert answer.json() == {"seen": 1}
    assert await service.orders() == ["o-1"]
    assert await service.events() == ["o-1"]


async def test_a_failing_command_writes_neither(service: Service) -> None:
    answer = await service.api.post("/orders", json={"orders": [order("o-2", decline=True)]})
    assert answer.status_code == 409
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["detail"] == "order o-2 was declined"
    assert await service.orders() == []
    assert await service.events() == []


async def test_a_later_failure_in_the_request_undoes_the_commands_before_it(
    service: Service,
) -> None:
    declined = await service.api.post(
        "/orders", json={"orders": [order("o-3"), order("o-4", decline=True)]}
    )
    changed_mind = await service.api.post(
        "/orders", json={"orders": [order("o-5")], "then_fail": True}
    )
    assert (declined.status_code, changed_mind.status_code) == (409, 400)
    assert await service.orders() == []
    assert await service.events() == []


async def test_the_commit_happens_before_the_response(service: Service) -> None:
    first = await service.api.post("/orders", json={"orders": [order("o-6", reference="r")]})
    # The duplicate reference is caught only at COMMIT: had the response gone out
    # first, the client would have seen 201 for an order that does not exist.
    duplicate = await service.api.post("/orders", json={"orders": [order("o-7", reference="r")]})
    assert first.status_code == 201
    assert duplicate.status_code == 409, duplicate.text
    assert duplicate.headers["content-type"] == PROBLEM_JSON
    assert await service.orders() == ["o-6"]
    assert await service.events() == ["o-6"]


async def test_requests_use_one_transaction_each(service: Service) -> None:
    for i in range(3):
        answer = await service.api.post("/orders", json={"orders": [order(f"p-{i}")]})
        assert answer.json() == {"seen": i + 1}
    assert await service.orders() == ["p-0", "p-1", "p-2"]
    assert await service.events() == ["p-0", "p-1", "p-2"]
