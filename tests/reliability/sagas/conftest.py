"""The order saga as four processes on PostgreSQL and Kafka: the orders worker (the saga),
the warehouse worker, and one outbox relay per service (consumers/orders)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from consumers.orders.messages import Order, OrderPlaced, Topics
from consumers.orders.schema import Schema
from cqrs_worker.events import WireEvent
from tests.support.kafka import FAST_GROUP_SETTINGS, create_topic, publish_events
from tests.support.processes import ManagedProcess, ProcessSet


@dataclass
class OrdersRig:
    kafka: str
    database_url: str
    engine: AsyncEngine
    schema: Schema
    prefix: str
    topics: Topics
    processes: ProcessSet
    reply_timeout: float
    started: list[ManagedProcess] = field(default_factory=list)

    def env(self, **extra: str) -> dict[str, str]:
        return {
            "ORDERS_DATABASE_URL": self.database_url,
            "ORDERS_KAFKA": self.kafka,
            "ORDERS_KAFKA_IDEMPOTENCE": "false",  # Tansu grants no producer ids
            "ORDERS_PREFIX": self.prefix,
            "ORDERS_TOPIC": self.topics.orders,
            "ORDERS_REPLIES_TOPIC": self.topics.replies,
            "ORDERS_WAREHOUSE_TOPIC": self.topics.warehouse,
            "ORDERS_REPLY_TIMEOUT": str(self.reply_timeout),
            "ORDERS_POOL_SIZE": "5",
            "CQRS_WORKER_KAFKA_BOOTSTRAP": self.kafka,
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_RELAY_HEALTH_PORT": "0",
            "CQRS_WORKER_RELAY_MAX_IDLE_DELAY": "0.2",
            "CQRS_WORKER_SESSION_TIMEOUT_MS": str(FAST_GROUP_SETTINGS["session_timeout_ms"]),
            "CQRS_WORKER_HEARTBEAT_INTERVAL_MS": str(FAST_GROUP_SETTINGS["heartbeat_interval_ms"]),
            "CQRS_WORKER_KAFKA_IDEMPOTENCE": "false",
            "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
            "CQRS_WORKER_RETRY_MAX_DELAY": "0.1",
            "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
            "CQRS_WORKER_SAGAS_CHECK_INTERVAL": "0.5",
            **extra,
        }

    def start(self, target: str, *, name: str, env: Mapping[str, str]) -> ManagedProcess:
        command = "relay" if target.endswith(":relay") else "run"
        process = self.processes.start_python(
            ["-m", "cqrs_worker.cli", command, target, "--factory"], name=name, env=env
        )
        self.started.append(process)
        return process

    def start_orders(self, **extra: str) -> ManagedProcess:
        topics = f"{self.topics.orders},{self.topics.replies}"
        return self.start(
            "consumers.orders.service:build",
            name="orders",
            env=self.env(
                CQRS_WORKER_TOPICS=topics, CQRS_WORKER_GROUP_ID=f"orders-{self.prefix}", **extra
            ),
        )

    def start_warehouse(self) -> ManagedProcess:
        return self.start(
            "consumers.orders.warehouse:build",
            name="warehouse",
            env=self.env(
                CQRS_WORKER_TOPICS=self.topics.warehouse,
                CQRS_WORKER_GROUP_ID=f"warehouse-{self.prefix}",
            ),
        )

    def start_relays(self) -> None:
        self.start("consumers.orders.service:relay", name="orders-relay", env=self.env())
        self.start("consumers.orders.warehouse:relay", name="warehouse-relay", env=self.env())

    def order(self, order_id: str, **fields: Any) -> OrderPlaced:
        values = {"sku": "sku-1", "quantity": 1, "amount": 10.0, "address": "1 Main St", **fields}
        return OrderPlaced(
            topic=self.topics.orders,
            partition_key=order_id,
            payload=Order(order_id=order_id, **values),
        )

    async def place(self, orders: Sequence[WireEvent[Any]]) -> None:
        await publish_events(self.kafka, orders)

    async def rows(self, query: sa.Select[Any]) -> list[Any]:
        async with self.engine.connect() as conn:
            return list(await conn.execute(query))

    async def statuses(self) -> dict[str, int]:
        t = self.schema.sagas.table
        rows = await self.rows(sa.select(t.c.status, sa.func.count()).group_by(t.c.status))
        return {status: int(count) for status, count in rows}

    async def per_order(self, table: sa.Table) -> dict[str, int]:
        rows = await self.rows(
            sa.select(table.c.order_id, sa.func.count()).group_by(table.c.order_id)
        )
        return {order_id: int(count) for order_id, count in rows}

    async def wait_until(
        self, condition: Any, *, timeout: float, what: str, watch: list[ManagedProcess]
    ) -> None:
        deadline = time.monotonic() + timeout
        while not await condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} after {timeout:.0f}s; sagas: {await self.statuses()}")
            for process in watch:
                if process.started and not process.running and process.returncode != -9:
                    raise RuntimeError(f"{process.describe()} exited:\n{process.tail()}")
            await asyncio.sleep(0.2)


SOAK = os.environ.get("CQRS_WORKER_SOAK") == "1"
#: Long enough that no reply is late under the test's load, even with the worker killed
#: three times (a late reply times its step out: a compensated saga that should complete).
REPLY_TIMEOUT = 150.0 if SOAK else 30.0


@pytest.fixture
async def orders_rig(
    kafka_bootstrap: str, postgres_url: str, processes: ProcessSet
) -> AsyncIterator[OrdersRig]:
    suffix = uuid.uuid4().hex[:10]
    prefix = f"rs{suffix}"
    schema = Schema(prefix=prefix)
    engine = create_async_engine(postgres_url, pool_size=3)
    async with engine.begin() as conn:
        await conn.run_sync(schema.metadata.create_all)
    topics = Topics(
        orders=await create_topic(kafka_bootstrap, f"orders-{suffix}", 4),
        replies=await create_topic(kafka_bootstrap, f"replies-{suffix}", 4),
        warehouse=await create_topic(kafka_bootstrap, f"warehouse-{suffix}", 4),
    )
    try:
        yield OrdersRig(
            kafka_bootstrap, postgres_url, engine, schema, prefix, topics, processes, REPLY_TIMEOUT
        )
    finally:
        processes.stop_all()
        async with engine.begin() as conn:
            await conn.run_sync(schema.metadata.drop_all)
        await engine.dispose()
