"""Over Kafka, with real processes: the orders worker and its relay, the test as the warehouse.

Each reply is published three times (the same event: a redelivery, as after a
producer retry); the saga moves once per reply and every step runs once.
"""

from __future__ import annotations

import asyncio
import urllib.request

import pytest
import sqlalchemy as sa

from consumers.orders.messages import Shipped, StockReserved
from consumers.orders.service import saga_id_of
from cqrs_worker.sagas import SagaReply
from tests.consumers.test_observability_files import referenced_metrics
from tests.reliability.sagas.conftest import OrdersRig


@pytest.mark.reliability
async def test_a_reply_published_three_times_moves_the_saga_once(
    orders_rig: OrdersRig, free_tcp_port: int
) -> None:
    rig = orders_rig
    rig.start("consumers.orders.service:relay", name="orders-relay", env=rig.env())
    worker = rig.start_orders(
        CQRS_WORKER_HEALTH_PORT=str(free_tcp_port),
        CQRS_WORKER_HEALTH_HOST="127.0.0.1",
        CQRS_WORKER_SAGAS_COUNTS_INTERVAL="0.2",
    )
    worker.wait_for_line("running", timeout=60)
    await rig.place([rig.order("o-1")])
    saga_id = saga_id_of("o-1")
    outbox = rig.schema.orders_outbox.table

    async def published(name: str) -> int:
        query = sa.select(sa.func.count()).select_from(outbox)
        query = query.where(outbox.c.event_name == name, outbox.c.status == "published")
        return int((await rig.rows(query))[0][0])

    async def saga_step() -> tuple[str, int]:
        t = rig.schema.sagas.table
        rows = await rig.rows(sa.select(t.c.status, t.c.step).where(t.c.saga_id == saga_id))
        return (rows[0][0], rows[0][1]) if rows else ("", -1)

    async def reserve_sent() -> bool:
        return await published("ReserveStock") == 1

    await rig.wait_until(reserve_sent, timeout=60, what="ReserveStock published", watch=[worker])
    reserved = StockReserved(
        topic=rig.topics.replies,
        partition_key="o-1",
        payload=SagaReply(saga_id=saga_id, step="reserve_stock"),
    )
    await rig.place([reserved, reserved, reserved])

    async def ship_sent() -> bool:
        return await published("ShipOrder") == 1

    await rig.wait_until(ship_sent, timeout=60, what="ShipOrder published", watch=[worker])
    shipped = Shipped(
        topic=rig.topics.replies,
        partition_key="o-1",
        payload=SagaReply(saga_id=saga_id, step="ship"),
    )
    await rig.place([shipped, shipped, shipped])

    async def completed() -> bool:
        return await saga_step() == ("completed", 3)

    await rig.wait_until(completed, timeout=60, what="saga completed", watch=[worker])

    async def inbox_has_all() -> bool:
        t = rig.schema.orders_inbox
        return int((await rig.rows(sa.select(sa.func.count()).select_from(t)))[0][0]) == 3

    # OrderPlaced and one record per reply event: the two copies of each were duplicates.
    await rig.wait_until(inbox_has_all, timeout=30, what="inbox records", watch=[worker])
    assert await rig.per_order(rig.schema.payments) == {"o-1": 1}
    assert await published("ShipOrder") == 1
    assert await published("ReserveStock") == 1

    # The worker that runs the sagas serves their families next to its own.
    url = f"http://127.0.0.1:{free_tcp_port}/metrics"
    completed_gauge = 'cqrs_worker_sagas{definition="order",status="completed"} 1.0'

    async def scraped() -> bool:
        return completed_gauge in await asyncio.to_thread(_get, url)

    await rig.wait_until(scraped, timeout=30, what="the saga gauge", watch=[worker])
    text = await asyncio.to_thread(_get, url)
    assert "# HELP cqrs_worker_saga_step_duration_seconds" in text
    # Every saga series the Grafana dashboard and the alert rules use is served here.
    served = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line[:1] != "#"}
    used = {name for name in referenced_metrics() if "saga" in name}
    assert used
    assert used <= served
    for step in ("reserve_stock", "charge_payment", "ship"):
        count = f'cqrs_worker_saga_step_duration_seconds_count{{definition="order",step="{step}"}}'
        assert f"{count} 1.0" in text
    worker.terminate()
    assert worker.wait(timeout=30) == 0


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:  # our own worker
        return str(response.read().decode())
