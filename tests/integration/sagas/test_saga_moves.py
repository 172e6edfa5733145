"""The order saga on each database, through the worker pipeline and the unit of work.

The test answers for the warehouse: it reads the saga's requests from the
outbox and delivers the replies.
"""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from consumers.orders.messages import Shipped, StockReserved
from cqrs_worker.errors import ConfigurationError
from cqrs_worker.sagas import SagaReply, SagaStatus
from tests.integration.sagas.conftest import SagaRig


def reply(rig: SagaRig, kind: type[Any], saga_id: uuid.UUID, step: str, **fields: Any) -> Any:
    return kind(topic=rig.topics.replies, payload=SagaReply(saga_id=saga_id, step=step, **fields))


async def test_happy_path_runs_every_step_once(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-1")
    assert (await rig.saga(saga_id)).status is SagaStatus.RUNNING
    [reserve] = await rig.requests("ReserveStock")
    assert reserve["saga_id"] == str(saga_id)
    assert reserve["step"] == "reserve_stock"

    await rig.deliver(reply(rig, StockReserved, saga_id, "reserve_stock", result={"n": 1}))
    assert await rig.count(rig.schema.payments, order_id="o-1") == 1  # the local step ran
    [ship] = await rig.requests("ShipOrder")
    assert ship["address"] == "1 Main St"

    await rig.deliver(reply(rig, Shipped, saga_id, "ship"))
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPLETED
    assert record.results["reserve_stock"] == {"n": 1}
    assert record.results["charge_payment"] == {"amount": 10.0}
    assert [s["name"] for s in record.steps] == ["reserve_stock", "charge_payment", "ship"]
    assert await rig.count(rig.schema.refunds) == 0
    assert await rig.requests("ReleaseStock") == []
    steps = {step for definition, step, _, _ in rig.sagas.stats.step_durations()}
    assert steps == {"reserve_stock", "charge_payment", "ship"}
    await rig.sagas.refresh_counts()
    assert rig.sagas.stats.by_status == {("order", "completed"): 1}


async def test_placing_an_order_twice_starts_one_saga(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-twice")
    assert await rig.place("o-twice") == saga_id  # another event id: not an inbox duplicate
    assert len(await rig.requests("ReserveStock")) == 1
    assert rig.harness.dead_letters() == []


async def test_failure_at_the_first_step_compensates_nothing(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-2", quantity=500)
    await rig.deliver(
        reply(rig, StockReserved, saga_id, "reserve_stock", ok=False, error="out of stock")
    )
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPENSATED
    assert record.error == "reserve_stock: out of stock"
    assert await rig.requests("ReleaseStock") == []
    assert await rig.count(rig.schema.payments) == 0


async def test_failure_at_the_local_step_releases_the_stock_once(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-3", amount=5000)
    await rig.deliver(reply(rig, StockReserved, saga_id, "reserve_stock"))
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPENSATED
    assert record.error is not None
    assert "declined" in record.error
    # The declined charge's writes rolled back with its savepoint; nothing to refund.
    assert await rig.count(rig.schema.payments) == 0
    assert await rig.count(rig.schema.refunds) == 0
    assert len(await rig.requests("ReleaseStock")) == 1
    assert await rig.requests("ShipOrder") == []


async def test_failure_at_the_last_step_compensates_both_in_reverse(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-4")
    await rig.deliver(reply(rig, StockReserved, saga_id, "reserve_stock"))
    await rig.deliver(reply(rig, Shipped, saga_id, "ship", ok=False, error="no such street"))
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPENSATED
    assert await rig.count(rig.schema.refunds, order_id="o-4") == 1
    assert len(await rig.requests("ReleaseStock")) == 1
    # The ship step said it did nothing: no CancelShipment.
    assert await rig.requests("CancelShipment") == []
    assert [s["compensated"] for s in record.steps] == [True, True]


async def test_a_reply_delivered_three_times_moves_the_saga_once(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-5")
    reserved = reply(rig, StockReserved, saga_id, "reserve_stock")
    await rig.deliver(reserved, reserved, reserved)
    assert sum(n for k, n in rig.harness.stats.outcomes.items() if "duplicate" in k) == 2
    assert await rig.count(rig.schema.payments) == 1
    assert len(await rig.requests("ShipOrder")) == 1
    # The warehouse sends a second reply of its own (another event id): the saga has moved on.
    await rig.deliver(reply(rig, StockReserved, saga_id, "reserve_stock"))
    assert await rig.count(rig.schema.payments) == 1
    assert len(await rig.requests("ShipOrder")) == 1
    assert (await rig.saga(saga_id)).status is SagaStatus.RUNNING


async def test_a_timed_out_step_is_compensated_with_the_others(saga_rig: SagaRig) -> None:
    rig = saga_rig
    saga_id = await rig.place("o-6")
    await rig.deliver(reply(rig, StockReserved, saga_id, "reserve_stock"))
    # Pretend the ship step's deadline passed (the definition waits 600 s here).
    async with rig.engine.begin() as conn:
        t = rig.sagas.store.table
        await conn.execute(
            sa.update(t).where(t.c.saga_id == saga_id).values(deadline=sa.func.current_timestamp())
        )
    record = await rig.wait_status(saga_id, SagaStatus.COMPENSATED)
    assert record.error is not None
    assert "no reply within" in record.error
    # The request may have been applied: it is compensated too, first.
    assert len(await rig.requests("CancelShipment")) == 1
    assert await rig.count(rig.schema.refunds) == 1
    assert len(await rig.requests("ReleaseStock")) == 1
    # A reply arriving late changes nothing.
    await rig.deliver(reply(rig, Shipped, saga_id, "ship"))
    assert (await rig.saga(saga_id)).status is SagaStatus.COMPENSATED
    assert await rig.check_once() == 0


@pytest.mark.parametrize(
    ("fail_at", "journal"),
    [
        ("a", []),
        ("b2", ["do a", "undo a"]),
        ("c", ["do a", "do b2", "undo b2", "undo a"]),
    ],
)
async def test_local_failures_compensate_in_reverse_once(
    saga_rig: SagaRig, fail_at: str, journal: list[str]
) -> None:
    from tests.integration.sagas.journal import Plan

    rig = saga_rig
    async with rig.sagas.unit_of_work.transaction():
        saga_id = await rig.sagas.start(
            "journal", Plan(tag=fail_at, fail_at=fail_at, b_needs_fallback=True)
        )
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPENSATED
    # A failed action's row rolled back with its savepoint (b always fails: b2 replaces it);
    # the finished ones were undone once each, last first.
    assert await rig.journal_entries(fail_at) == journal


async def test_a_compensation_that_keeps_failing_parks_the_saga_until_retried(
    saga_rig: SagaRig,
) -> None:
    from tests.integration.sagas.journal import Plan

    rig = saga_rig
    plan = Plan(tag="parked", fail_at="c", undo_a_failures=3)
    async with rig.sagas.unit_of_work.transaction():
        saga_id = await rig.sagas.start("journal", plan)
    assert (await rig.saga(saga_id)).status is SagaStatus.COMPENSATING  # undo a: 1st failure
    record = await rig.wait_status(saga_id, SagaStatus.FAILED)
    assert record.error == "compensating a: RuntimeError: undo a failed (attempt 2)"
    assert record.attempts == 2
    running = await rig.place("o-running")
    with pytest.raises(ConfigurationError, match="is running; only failed sagas"):
        await rig.sagas.retry(running)
    with pytest.raises(ConfigurationError, match="no saga"):
        await rig.sagas.retry(uuid.uuid4())
    # A retry starts a fresh round of attempts: the 3rd fails, the deadline check's 4th works.
    record = await rig.sagas.retry(saga_id)
    assert record.status is SagaStatus.COMPENSATING
    record = await rig.wait_status(saga_id, SagaStatus.COMPENSATED)
    assert record.error == "compensating a: RuntimeError: undo a failed (attempt 3)"
    # Failed undo attempts rolled back; b was undone once, a once.
    assert await rig.journal_entries("parked") == ["do a", "do b", "undo b", "undo a"]
    assert rig.journal.undo_attempts[("parked", "a")] == 4


async def test_a_saga_that_cannot_be_moved_is_parked_and_holds_up_no_other(
    saga_rig: SagaRig,
) -> None:
    from cqrs_worker.sagas import SagaRecord

    rig = saga_rig
    stranger = SagaRecord(
        saga_id=uuid.uuid4(),
        name="gone",
        status=SagaStatus.RUNNING,
        step=0,
        variant=0,
        context={},
        deadline=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC),
    )
    async with rig.engine.begin() as conn:
        await rig.sagas.store.insert(conn, stranger)
    saga_id = await rig.place("o-7")
    async with rig.engine.begin() as conn:
        t = rig.sagas.store.table
        await conn.execute(
            sa.update(t).where(t.c.saga_id == saga_id).values(deadline=stranger.deadline)
        )
    assert await rig.check_once() == 2
    parked = await rig.saga(stranger.saga_id)
    assert parked.status is SagaStatus.FAILED
    assert parked.error is not None
    assert parked.error.startswith("ConfigurationError: no saga definition named 'gone'")
    assert (await rig.saga(saga_id)).status is SagaStatus.COMPENSATED


async def test_a_request_that_cannot_be_built_fails_its_step(saga_rig: SagaRig) -> None:
    from tests.integration.sagas.journal import Plan

    rig = saga_rig
    async with rig.sagas.unit_of_work.transaction():
        saga_id = await rig.sagas.start("broken", Plan(tag="broken"))
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPENSATED
    assert record.error == "r: ValueError: cannot build the request of r"
    assert await rig.journal_entries("broken") == ["do a", "undo a"]


async def test_a_remote_fallback_replaces_a_remote_step_that_says_no(saga_rig: SagaRig) -> None:
    from tests.integration.sagas.journal import Plan

    rig = saga_rig
    async with rig.sagas.unit_of_work.transaction():
        saga_id = await rig.sagas.start("courier", Plan(tag="courier"))
    await rig.deliver(reply(rig, Shipped, saga_id, "ship", ok=False, error="no van"))
    first, second = await rig.requests("ShipOrder")
    assert (first["address"], second["address"]) == ("fast", "slow")
    assert second["step"] == "ship_slow"  # the running variant's own name
    record = await rig.saga(saga_id)
    assert (record.status, record.variant) == (SagaStatus.RUNNING, 1)
    # A (late) reply for the primary is not taken for the fallback's.
    await rig.deliver(reply(rig, Shipped, saga_id, "ship"))
    assert (await rig.saga(saga_id)).status is SagaStatus.RUNNING
    await rig.deliver(reply(rig, Shipped, saga_id, "ship_slow", result={"carrier": "slow"}))
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPLETED
    assert [(s["name"], s["variant"]) for s in record.steps] == [("ship_slow", 1)]
    assert record.results == {"ship": {"carrier": "slow"}}


async def test_purge_deletes_finished_sagas_only(saga_rig: SagaRig) -> None:
    from tests.integration.sagas.journal import Plan

    rig = saga_rig
    running = await rig.place("o-purge")
    async with rig.sagas.unit_of_work.transaction():
        done = await rig.sagas.start("journal", Plan(tag="purge"))
        undone = await rig.sagas.start("journal", Plan(tag="purge2", fail_at="c"))
    later = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=5)
    async with rig.engine.begin() as conn:
        assert await rig.sagas.store.purge(conn, before=later, limit=1) == 1
        assert await rig.sagas.store.purge(conn, before=later) == 1
        assert await rig.sagas.store.purge(conn, before=later) == 0
    async with rig.engine.connect() as conn:
        assert await rig.sagas.store.load(conn, done, lock=False) is None
        assert await rig.sagas.store.load(conn, undone, lock=False) is None
    assert (await rig.saga(running)).status is SagaStatus.RUNNING


async def test_a_timed_out_step_replaced_by_its_fallback_is_compensated_at_once(
    saga_rig: SagaRig,
) -> None:
    from tests.integration.sagas.journal import Plan

    rig = saga_rig
    async with rig.sagas.unit_of_work.transaction():
        saga_id = await rig.sagas.start("courier", Plan(tag="late"))
    async with rig.engine.begin() as conn:
        t = rig.sagas.store.table
        await conn.execute(
            sa.update(t)
            .where(t.c.saga_id == saga_id)
            .values(deadline=datetime.datetime(2000, 1, 1, tzinfo=datetime.UTC))
        )
    assert await rig.check_once() == 1
    [cancel] = await rig.requests("CancelShipment")  # the abandoned primary's compensation
    assert cancel["step"] == "ship"
    assert [a["address"] for a in await rig.requests("ShipOrder")] == ["fast", "slow"]
    # The primary's late reply is ignored; the fallback completes the saga.
    await rig.deliver(reply(rig, Shipped, saga_id, "ship"))
    await rig.deliver(reply(rig, Shipped, saga_id, "ship_slow"))
    record = await rig.saga(saga_id)
    assert record.status is SagaStatus.COMPLETED
    assert [(s["name"], s["compensated"]) for s in record.steps] == [
        ("ship", True),
        ("ship_slow", False),
    ]
    assert len(await rig.requests("CancelShipment")) == 1
