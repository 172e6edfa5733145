"""``Slots``: a resting worker frees its slot, and waits for one before its next attempt."""

from __future__ import annotations

import asyncio

from cqrs_worker.worker.slots import Slots
from tests.support.waiting import async_wait_until

Worker = asyncio.Task[None]


async def _blocked() -> None:
    await asyncio.Event().wait()


async def test_a_woken_worker_waits_for_a_free_slot_then_gets_it_first() -> None:
    workers: set[Worker] = set()
    other = asyncio.create_task(_blocked())
    # What the lanes do when a slot frees: start a worker for a ready lane.
    slots = Slots(workers, concurrency=1, freed=lambda: workers.add(other))
    attempts: list[str] = []

    async def retrying() -> None:
        await slots.rest(resting, 0)
        attempts.append("second attempt")

    resting = asyncio.create_task(retrying())
    workers.add(resting)
    await async_wait_until(lambda: bool(slots.waking), timeout=5)
    assert attempts == []
    assert not slots.free(), "the other worker holds the only slot"

    other.cancel()
    await asyncio.gather(other, return_exceptions=True)
    workers.discard(other)
    slots.grant()  # what a worker that ends does
    await asyncio.wait_for(resting, 5)
    assert attempts == ["second attempt"]
    assert not slots.resting
    assert not slots.waking


async def test_a_worker_cancelled_while_waiting_for_a_slot_leaves_nothing_behind() -> None:
    workers: set[Worker] = set()
    other = asyncio.create_task(_blocked())
    slots = Slots(workers, concurrency=1, freed=lambda: workers.add(other))

    async def retrying() -> None:
        await slots.rest(resting, 0)

    resting = asyncio.create_task(retrying())
    workers.add(resting)
    await async_wait_until(lambda: bool(slots.waking), timeout=5)
    resting.cancel()
    await asyncio.gather(resting, return_exceptions=True)
    other.cancel()
    await asyncio.gather(other, return_exceptions=True)

    assert resting.cancelled()
    assert not slots.resting
    assert not slots.waking


async def test_a_task_that_is_not_the_worker_just_sleeps() -> None:
    worker = asyncio.create_task(_blocked())
    workers: set[Worker] = {worker}
    freed: list[int] = []
    slots = Slots(workers, concurrency=1, freed=lambda: freed.append(1))

    await slots.rest(worker, 0)  # called from this task: say, one a handler started

    assert freed == []
    assert not slots.resting
    worker.cancel()
    await asyncio.gather(worker, return_exceptions=True)
