"""Order sagas survive SIGKILLs of the orders worker (the process that runs them).

Concurrent order sagas on PostgreSQL, across the orders and warehouse services
over Kafka; one order in ten fails at each step and a few wait on a carrier
that never answers (their ship step times out). Two orders workers share
the work; one of them is SIGKILLed three times at random moments while
sagas are in flight and started again. Then every saga is completed or compensated, never half, and
counting rows shows each step's effect and each compensation happened
exactly once. ``CQRS_WORKER_SOAK=1`` runs the full 1,000 sagas.
"""

from __future__ import annotations

import contextlib
import os
import random
from typing import Any

import pytest
import sqlalchemy as sa

from consumers.orders.messages import OrderPlaced
from consumers.orders.service import saga_id_of
from tests.reliability.sagas.conftest import SOAK, OrdersRig

ORDERS = 1000 if SOAK else 150
KILLS = 3


def orders(rig: OrdersRig, count: int) -> tuple[list[OrderPlaced], dict[str, str]]:
    """The orders, and the final status each must reach."""
    placed: list[OrderPlaced] = []
    expected: dict[str, str] = {}
    for i in range(count):
        order_id = f"order-{i}"
        kind = i % 10
        if kind == 1:
            placed.append(rig.order(order_id, quantity=500))  # out of stock: step 1 fails
        elif kind == 2:
            placed.append(rig.order(order_id, amount=5000))  # declined: step 2 fails
        elif kind == 3:
            placed.append(rig.order(order_id, address=""))  # undeliverable: step 3 fails
        elif kind == 4 and i % 50 == 4:
            placed.append(rig.order(order_id, address="void"))  # no reply: step 3 times out
        else:
            placed.append(rig.order(order_id))
        expected[order_id] = "completed" if kind not in (1, 2, 3) and i % 50 != 4 else "compensated"
    return placed, expected


@pytest.mark.reliability
@pytest.mark.timeout(1200 if SOAK else 240)
async def test_every_saga_ends_whole_after_three_sigkills(orders_rig: OrdersRig) -> None:
    rig = orders_rig
    rng = random.Random(os.environ.get("CQRS_WORKER_TEST_SEED", "sagas"))
    rig.start_relays()
    warehouse = rig.start_warehouse()
    # Two orders workers in one group: the deadline check runs in both (SKIP LOCKED).
    orders_workers = [rig.start_orders(), rig.start_orders()]
    for process in (warehouse, *orders_workers):
        process.wait_for_line("running", timeout=60)
    placed, expected = orders(rig, ORDERS)
    await rig.place(placed)

    async def finished() -> int:
        statuses = await rig.statuses()
        return statuses.get("completed", 0) + statuses.get("compensated", 0)

    for kill in range(KILLS):
        # A random point while sagas are in flight: somewhere in the next slice of progress.
        target = int(ORDERS * (kill + rng.uniform(0.2, 0.8)) / (KILLS + 1))

        async def reached(target: int = target) -> bool:
            return await finished() >= target

        await rig.wait_until(reached, timeout=120, what=f"{target} sagas finished", watch=[])
        victim = orders_workers[kill % 2]
        victim.kill()
        victim.wait(timeout=10)
        assert await finished() < ORDERS, "the kill must land while sagas run"
        orders_workers[kill % 2] = rig.start_orders()

    async def all_finished() -> bool:
        return await finished() == ORDERS

    await rig.wait_until(
        all_finished, timeout=180, what="every saga finished", watch=[*orders_workers, warehouse]
    )
    await check_effects(rig, expected)

    assert sum(1 for p in rig.started if p.returncode == -9) == KILLS


async def check_effects(rig: OrdersRig, expected: dict[str, str]) -> None:
    s = rig.schema
    t = s.sagas.table
    sagas = {row.saga_id: row for row in await rig.rows(sa.select(t))}
    assert len(sagas) == len(expected)
    statuses = {order_id: sagas[saga_id_of(order_id)].status for order_id in expected}
    wrong = {o: (statuses[o], want) for o, want in expected.items() if statuses[o] != want}
    assert not wrong, f"{len(wrong)} sagas ended otherwise: {list(wrong.items())[:5]}"

    # What each saga's steps say must exist, exactly once; compensations for compensated sagas.
    want: dict[str, dict[str, int]] = {
        name: {}
        for name in (
            "reservations",
            "payments",
            "shipments",
            "releases",
            "refunds",
            "cancellations",
        )
    }
    for order_id in expected:
        record: Any = sagas[saga_id_of(order_id)]
        done = {entry["name"] for entry in record.steps}
        for step, effect, undo in (
            ("reserve_stock", "reservations", "releases"),
            ("charge_payment", "payments", "refunds"),
            ("ship", "shipments", "cancellations"),
        ):
            if step in done:
                want[effect][order_id] = 1
                if record.status == "compensated":
                    assert all(e["compensated"] for e in record.steps), record.steps
                    want[undo][order_id] = 1
    # The warehouse applies relayed compensations a little after the saga row says compensated.
    tables = {name: getattr(s, name) for name in want}

    async def effects_match() -> bool:
        return all([await rig.per_order(table) == want[name] for name, table in tables.items()])

    with contextlib.suppress(TimeoutError):
        await rig.wait_until(effects_match, timeout=60, what="compensations applied", watch=[])
    for name, table in tables.items():
        have = await rig.per_order(table)
        counts = {o: (have.get(o, 0), want[name].get(o, 0)) for o in set(have) | set(want[name])}
        off = {o: pair for o, pair in counts.items() if pair[0] != pair[1]}
        assert not off, f"{name}: (rows, expected) per order: {sorted(off.items())[:5]}"
    # Timed-out ship steps did write their shipment (the carrier never answered) and were cancelled.
    voids = [o for o in expected if o.endswith("4") and int(o.split("-")[1]) % 50 == 4]
    assert all(want["cancellations"].get(o) == 1 for o in voids)
