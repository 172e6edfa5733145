"""A saga rig on a real database: the orders service's wiring, the journal saga, the worker
pipeline in memory (decode, retries, the unit of work with its inbox).

The test plays the warehouse: it reads the requests the saga wrote to the
outbox and delivers replies to the worker.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from consumers.orders.messages import Order, OrderPlaced, Topics
from consumers.orders.schema import Schema
from consumers.orders.service import wire
from cqrs_worker import RequestMap
from cqrs_worker.events import WireEvent
from cqrs_worker.request_mediator import RequestMediator
from cqrs_worker.sagas import SagaRecord, Sagas, SagaStatus
from cqrs_worker.testing import WorkerHarness, run_worker_in_memory
from tests.integration.sagas.journal import (
    Journal,
    bind,
    broken_saga,
    courier_saga,
    journal_saga,
    journal_table,
)


@dataclass
class SagaRig:
    engine: AsyncEngine
    schema: Schema
    sagas: Sagas
    journal: Journal
    harness: WorkerHarness
    topics: Topics
    delivered: int = 0

    async def deliver(self, *events: WireEvent[Any]) -> None:
        """Deliver ``events`` to the orders worker and wait until it finished them."""
        await self.harness.publish(*events)
        self.delivered += len(events)
        await self.harness.wait_handled(self.delivered, timeout=30)

    async def place(self, order_id: str, **fields: Any) -> uuid.UUID:
        from consumers.orders.service import saga_id_of

        values = {"sku": "sku-1", "quantity": 1, "amount": 10.0, "address": "1 Main St", **fields}
        order = Order(order_id=order_id, **values)
        await self.deliver(OrderPlaced(topic=self.topics.orders, payload=order))
        return saga_id_of(order_id)

    async def requests(self, event_name: str) -> list[dict[str, Any]]:
        """Payloads of the outbox rows named ``event_name``, oldest first."""
        t = self.schema.orders_outbox.table
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(t.c.payload).where(t.c.event_name == event_name).order_by(t.c.id)
            )
            return [orjson.loads(payload)["payload"] for (payload,) in rows]

    async def saga(self, saga_id: uuid.UUID) -> SagaRecord:
        async with self.engine.connect() as conn:
            record = await self.sagas.store.load(conn, saga_id, lock=False)
        assert record is not None
        return record

    async def count(self, table: sa.Table, **where: str) -> int:
        query = sa.select(sa.func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        async with self.engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())

    async def journal_entries(self, tag: str) -> list[str]:
        t = self.journal.table
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(t.c.entry).where(t.c.tag == tag).order_by(t.c.id))
            return list(rows.scalars())

    async def check_once(self) -> int:
        return await self.sagas.check_deadlines()

    async def wait_status(
        self, saga_id: uuid.UUID, *statuses: SagaStatus, timeout: float = 30
    ) -> SagaRecord:
        """Run the deadline check until the saga is in one of ``statuses``."""
        deadline = time.monotonic() + timeout
        while (record := await self.saga(saga_id)).status not in statuses:
            if time.monotonic() > deadline:
                raise TimeoutError(f"saga {saga_id} is {record.status}, not {statuses}")
            await self.sagas.check_deadlines()
        return record


@pytest.fixture(params=["sqlite", "postgres", "mariadb"])
async def saga_rig(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[SagaRig]:
    kind = request.param
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'sagas.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url" if kind == "postgres" else "mysql_url"))
    suffix = uuid.uuid4().hex[:10]
    schema = Schema(prefix=f"sg{suffix}")
    journal = Journal(journal_table(schema.metadata, suffix))
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(schema.metadata.create_all)
    topics = Topics(orders=f"orders-{suffix}", replies=f"replies-{suffix}", warehouse="wh")
    sagas, mediator, unit_of_work = wire(engine, schema, topics=topics, reply_timeout=600)
    # The journal saga runs on the same service: its own definition, its own commands.
    sagas.definitions["journal"] = journal_saga
    sagas.definitions["broken"] = broken_saga
    sagas.definitions["courier"] = courier_saga
    container: Any = unit_of_work.container
    container.register_instance(Journal, journal)
    requests: RequestMap = (await container.resolve(RequestMediator)).request_map
    bind(requests)
    try:
        async with run_worker_in_memory(
            mediator, middlewares=[unit_of_work], max_attempts=2
        ) as harness:
            yield SagaRig(engine, schema, sagas, journal, harness, topics)
    finally:
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()
