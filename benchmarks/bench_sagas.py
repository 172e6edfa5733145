"""Sagas completed per second on PostgreSQL, beside the same work without the saga.

Run with ``.venv/bin/python benchmarks/bench_sagas.py [--orders 5000]``. Uses
``CQRS_WORKER_TEST_POSTGRES`` (default the local ``test`` database).

Each order is one delivery through the worker pipeline (in memory, so the
broker is not what is measured) with a :class:`~cqrs_worker.inbox.UnitOfWork`
and its inbox on PostgreSQL, a transaction per event. Its handler either

* starts a saga of three local steps (reserve stock, charge payment, ship:
  one row each, each command in a savepoint, the saga row inserted and
  updated), or
* sends the same three commands itself (the bare commands).

Both runs in one process, one after the other, on fresh tables; the ratio
is printed. Remote steps add a broker round trip per step (the relay, the
other service, the reply): measure those on your own brokers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid

import pydantic
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from cqrs_worker import (
    Command,
    DefaultContainer,
    EventMap,
    NotificationEvent,
    RequestMap,
    RequestMediator,
    bootstrap,
)
from cqrs_worker.inbox import Inbox, UnitOfWork, inbox_table
from cqrs_worker.outbox import OutboxRepository, outbox_table
from cqrs_worker.sagas import LocalStep, SagaDefinition, Sagas, SagaStore, StepCall, saga_table
from cqrs_worker.testing import run_worker_in_memory

POSTGRES = os.environ.get(
    "CQRS_WORKER_TEST_POSTGRES", "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
)


class Order(pydantic.BaseModel):
    order_id: str


class OrderPlaced(NotificationEvent[Order]):
    event_name: str = "BenchOrderPlaced"
    topic: str = "bench-orders"


class Work(Command):
    order_id: str
    what: str


STEPS = ("reserve", "charge", "ship")


def _step(what: str) -> LocalStep[Order]:
    def action(call: StepCall[Order]) -> Work:
        return Work(order_id=call.context.order_id, what=what)

    def compensation(call: StepCall[Order]) -> Work:
        return Work(order_id=call.context.order_id, what=f"un{what}")

    return LocalStep(name=what, action=action, compensation=compensation)


def build(
    engine: AsyncEngine, suffix: str, *, saga: bool
) -> tuple[sa.MetaData, UnitOfWork, object]:
    metadata = sa.MetaData()
    effects = sa.Table(
        f"bench_effects_{suffix}",
        metadata,
        sa.Column("id", sa.BigInteger, primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("what", sa.String(16), nullable=False),
    )
    store = SagaStore(saga_table(metadata, name=f"bench_sagas_{suffix}"))
    container = DefaultContainer()
    unit_of_work = UnitOfWork(
        async_sessionmaker(engine, expire_on_commit=False),
        container=container,
        inbox=Inbox(consumer="bench", table=inbox_table(metadata, name=f"bench_inbox_{suffix}")),
        outbox=OutboxRepository(outbox_table(metadata, name=f"bench_outbox_{suffix}")),
    )
    definition = SagaDefinition(name="order", context=Order, steps=[_step(what) for what in STEPS])
    sagas = Sagas([definition], unit_of_work=unit_of_work, store=store)

    class WorkHandler:
        def __init__(self, session: AsyncSession) -> None:
            self.session = session

        async def handle(self, command: Work) -> None:
            await self.session.execute(
                sa.insert(effects).values(order_id=command.order_id, what=command.what)
            )

    class OnOrderPlaced:
        def __init__(self, mediator: RequestMediator) -> None:
            self.mediator = mediator

        async def handle(self, event: OrderPlaced) -> None:
            if saga:
                await sagas.start(definition, event.payload)
            else:
                for what in STEPS:
                    await self.mediator.send(Work(order_id=event.payload.order_id, what=what))

    events = EventMap()
    events.bind(OrderPlaced, OnOrderPlaced)
    requests = RequestMap()
    requests.bind(Work, WorkHandler)
    mediator = bootstrap(
        events=events,
        requests=requests,
        container=container,
        emitter=unit_of_work.emitter,
        middlewares=(),
    ).events
    return metadata, unit_of_work, mediator


async def run(orders: int, *, saga: bool) -> float:
    engine = create_async_engine(POSTGRES, pool_size=20)
    metadata, unit_of_work, mediator = build(engine, uuid.uuid4().hex[:8], saga=saga)
    async with engine.begin() as conn:
        await conn.run_sync(metadata.create_all)
    try:
        async with run_worker_in_memory(
            mediator,  # type: ignore[arg-type]  # an EventMediator, built above
            middlewares=[unit_of_work],
            concurrency=16,
        ) as worker:
            events = [
                OrderPlaced(partition_key=str(i), payload=Order(order_id=str(i)))
                for i in range(orders)
            ]
            started = time.perf_counter()
            await worker.publish(*events)
            await worker.wait_handled(orders, timeout=3600)
            elapsed = time.perf_counter() - started
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(metadata.drop_all)
        await engine.dispose()
    return orders / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    args = parser.parse_args()
    bare = await run(args.orders, saga=False)
    sagas = await run(args.orders, saga=True)
    print(f"bare commands: {bare:8.0f} orders/s")
    print(f"sagas:         {sagas:8.0f} sagas completed/s ({sagas / bare:.0%} of bare)")


if __name__ == "__main__":
    asyncio.run(main())
