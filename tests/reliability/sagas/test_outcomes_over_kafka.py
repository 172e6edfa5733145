"""Every saga outcome in one run, over Kafka with real processes on PostgreSQL.

The orders worker, the warehouse worker and both relays run as
``cqrs-worker`` processes; five orders, placed together, each end
differently by what they ask for (the example's business rules):

* ``ok``           -> completed: stock reserved, payment charged, shipped
* ``no-stock``     -> reserve fails (quantity above 100): nothing to compensate
* ``declined``     -> charge fails (amount above 1,000): stock released
* ``no-address``   -> ship fails (empty address): payment refunded, then stock released
* ``void``         -> the carrier never answers: the ship step times out; shipment
  cancelled, payment refunded, stock released, in that order

Each effect and each compensation is one row (the tables have no unique key),
and the rows' ``at`` show the compensations ran last step first.
"""

from __future__ import annotations

import asyncio
import subprocess
from typing import Any

import pytest
import sqlalchemy as sa

from consumers.orders.service import saga_id_of
from tests.reliability.sagas.conftest import OrdersRig
from tests.support.processes import python_argv, python_env

#: Short, so the timed-out step shows quickly; long enough for a reply on a loaded box.
REPLY_TIMEOUT = 4.0

#: Per order: its fields, the final status, and the rows each table must hold for it.
CASES: dict[str, tuple[dict[str, Any], str, set[str]]] = {
    "ok": ({}, "completed", {"reservations", "payments", "shipments"}),
    "no-stock": ({"quantity": 500}, "compensated", set()),
    "declined": ({"amount": 5000.0}, "compensated", {"reservations", "releases"}),
    "no-address": (
        {"address": ""},
        "compensated",
        {"reservations", "payments", "refunds", "releases"},
    ),
    "void": (
        {"address": "void 9"},
        "compensated",
        {"reservations", "payments", "shipments", "cancellations", "refunds", "releases"},
    ),
}
SAGAS_TARGET = ("consumers.orders.service:sagas", "--factory")
TABLES = ("reservations", "payments", "shipments", "releases", "refunds", "cancellations")


@pytest.mark.reliability
@pytest.mark.timeout(180)
async def test_each_outcome_over_kafka(orders_rig: OrdersRig) -> None:
    rig = orders_rig
    rig.reply_timeout = REPLY_TIMEOUT
    rig.start_relays()
    warehouse = rig.start_warehouse()
    orders = rig.start_orders()
    for process in (warehouse, orders):
        process.wait_for_line("running", timeout=60)
    await rig.place([rig.order(order_id, **fields) for order_id, (fields, _, _) in CASES.items()])

    async def all_finished() -> bool:
        statuses = await rig.statuses()
        return statuses.get("completed", 0) + statuses.get("compensated", 0) == len(CASES)

    await rig.wait_until(
        all_finished, timeout=90, what="every saga finished", watch=[orders, warehouse]
    )
    t = rig.schema.sagas.table
    ended = {row.saga_id: row.status for row in await rig.rows(sa.select(t))}
    assert {o: ended[saga_id_of(o)] for o in CASES} == {o: c[1] for o, c in CASES.items()}

    # Remote compensations reach the warehouse a little after the saga says compensated.
    want = {name: {o: 1 for o, c in CASES.items() if name in c[2]} for name in TABLES}

    async def effects_match() -> bool:
        return all([await rig.per_order(getattr(rig.schema, n)) == want[n] for n in TABLES])

    await rig.wait_until(
        effects_match, timeout=60, what="effects and compensations applied", watch=[warehouse]
    )
    # Still exactly once a moment later: no late duplicate (a redelivered request, another
    # deadline pass) adds a row. A check that nothing happens can only wait.
    await asyncio.sleep(2.0)
    for name in TABLES:
        assert await rig.per_order(getattr(rig.schema, name)) == want[name], name

    # Compensations last step first: as the orders service ran or sent them...
    assert await compensations_sent(rig, "no-address") == ["refund", "ReleaseStock"]
    assert await compensations_sent(rig, "void") == ["CancelShipment", "refund", "ReleaseStock"]
    assert await compensations_sent(rig, "declined") == ["ReleaseStock"]
    assert await compensations_sent(rig, "no-stock") == []
    # ...and as the warehouse applied the remote ones (relayed in order per order id).
    assert await at(rig, "cancellations", "void") < await at(rig, "releases", "void")

    result = await asyncio.to_thread(
        subprocess.run,
        python_argv(["-m", "cqrs_worker.cli", "sagas", "status", *SAGAS_TARGET]),
        env=python_env(rig.env()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["order\tcompensated\t4", "order\tcompleted\t1"]

    orders.terminate()
    assert orders.wait(timeout=30) == 0


async def compensations_sent(rig: OrdersRig, order_id: str) -> list[str]:
    """The order's refund and compensation requests (outbox rows), by when they were written."""
    s = rig.schema
    refunds = s.refunds
    outbox = s.orders_outbox.table
    rows = await rig.rows(
        sa.select(refunds.c.at, sa.literal("refund")).where(refunds.c.order_id == order_id)
    )
    rows += await rig.rows(
        sa.select(outbox.c.created_at, outbox.c.event_name).where(
            outbox.c.partition_key == order_id,
            outbox.c.event_name.in_(["ReleaseStock", "CancelShipment"]),
        )
    )
    return [name for _, name in sorted(rows)]


async def at(rig: OrdersRig, table: str, order_id: str) -> Any:
    t = getattr(rig.schema, table)
    return (await rig.rows(sa.select(t.c.at).where(t.c.order_id == order_id)))[0][0]
