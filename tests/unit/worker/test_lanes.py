"""``Lanes``: per-lane order, bounded concurrency; discard/finish/cancel never ack unfinished."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from cqrs_worker.worker.delivery import Delivery
from cqrs_worker.worker.lanes import Lanes
from tests.support.waiting import async_wait_until


class Recorder:
    """A pipeline that records order and concurrency; ``gate`` holds deliveries when set."""

    def __init__(self, *, gate: asyncio.Event | None = None) -> None:
        self.gate = gate
        self.started: list[int] = []
        self.running = 0
        self.peak = 0
        self.done: list[Delivery] = []
        self.failures_left: dict[int, int] = {}

    async def __call__(self, delivery: Delivery) -> None:
        n: int = delivery.raw
        self.started.append(n)
        self.running += 1
        self.peak = max(self.peak, self.running)
        try:
            if self.gate is not None:
                await self.gate.wait()
            else:
                await asyncio.sleep(0)
            if self.failures_left.get(n, 0) > 0:
                self.failures_left[n] -= 1
                raise RuntimeError("a bug in the pipeline")
        finally:
            self.running -= 1

    def on_done(self, delivery: Delivery) -> None:
        self.done.append(delivery)


def _delivery(n: int, lane: object) -> Delivery:
    return Delivery(body=b"", event_name=None, lane=lane, raw=n)


async def test_each_lane_keeps_submission_order_while_lanes_interleave() -> None:
    recorder = Recorder()
    lanes = Lanes(recorder, recorder.on_done, concurrency=8)

    for n in range(400):
        lanes.submit(_delivery(n, lane=n % 16))
    assert await lanes.wait_idle(5)

    per_lane: dict[object, list[int]] = defaultdict(list)
    for delivery in recorder.done:
        per_lane[delivery.lane].append(delivery.raw)
    assert len(per_lane) == 16
    assert all(numbers == sorted(numbers) for numbers in per_lane.values())
    assert len(recorder.done) == 400
    assert lanes.pending == 0


async def test_concurrency_is_bounded() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    lanes = Lanes(recorder, recorder.on_done, concurrency=4)

    for n in range(20):
        lanes.submit(_delivery(n, lane=n))
    await async_wait_until(lambda: recorder.running == 4, timeout=5)
    for _ in range(20):  # give a fifth every chance to start, which must not happen
        await asyncio.sleep(0)
    assert recorder.running == 4

    gate.set()
    assert await lanes.wait_idle(5)
    assert recorder.peak == 4


async def test_one_lane_never_runs_two_at_once() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    lanes = Lanes(recorder, recorder.on_done, concurrency=8)

    for n in range(5):
        lanes.submit(_delivery(n, lane="same"))
    await async_wait_until(lambda: recorder.running == 1, timeout=5)
    assert recorder.started == [0]

    gate.set()
    assert await lanes.wait_idle(5)
    assert [d.raw for d in recorder.done] == [0, 1, 2, 3, 4]


async def test_wait_idle_times_out_while_work_is_pending() -> None:
    recorder = Recorder(gate=asyncio.Event())
    lanes = Lanes(recorder, recorder.on_done, concurrency=1)
    lanes.submit(_delivery(1, lane=1))

    assert await lanes.wait_idle(0.01) is False
    assert lanes.pending == 1
    await lanes.cancel()


async def test_cancel_never_reports_unfinished_deliveries_done() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    lanes = Lanes(recorder, recorder.on_done, concurrency=2)
    for n in range(6):
        lanes.submit(_delivery(n, lane=n % 3))
    await async_wait_until(lambda: recorder.running == 2, timeout=5)

    await lanes.cancel()

    assert recorder.done == []
    assert lanes.pending == 0
    assert await lanes.wait_idle(0)


async def test_discard_drops_queued_deliveries_but_not_the_running_one() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    lanes = Lanes(recorder, recorder.on_done, concurrency=1)
    for n in range(4):
        lanes.submit(_delivery(n, lane="a"))
    await async_wait_until(lambda: recorder.running == 1, timeout=5)

    dropped = lanes.discard(lambda d: True)

    assert dropped == 3
    gate.set()
    assert await lanes.wait_idle(5)
    assert [d.raw for d in recorder.done] == [0]


async def test_finish_waits_for_running_deliveries_then_cancels_the_stuck() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    lanes = Lanes(recorder, recorder.on_done, concurrency=4)
    lanes.submit(_delivery(1, lane=1))
    lanes.submit(_delivery(2, lane=2))
    await async_wait_until(lambda: recorder.running == 2, timeout=5)

    cancelled = await lanes.finish(lambda d: d.raw == 1, timeout=0.05)

    assert cancelled == 1
    assert recorder.done == []
    gate.set()
    assert await lanes.wait_idle(5)
    assert [d.raw for d in recorder.done] == [2]


async def test_an_unexpected_pipeline_error_retries_the_same_delivery() -> None:
    recorder = Recorder()
    recorder.failures_left = {1: 1}
    lanes = Lanes(recorder, recorder.on_done, concurrency=1, error_delay=0.001)

    lanes.submit(_delivery(1, lane="a"))
    lanes.submit(_delivery(2, lane="a"))
    assert await lanes.wait_idle(5)

    assert recorder.started == [1, 1, 2]
    assert [d.raw for d in recorder.done] == [1, 2]


async def test_waiting_behind_counts_what_queues_behind_each_running_delivery() -> None:
    gate = asyncio.Event()
    recorder = Recorder(gate=gate)
    lanes = Lanes(recorder, recorder.on_done, concurrency=4)
    for n in range(5):
        lanes.submit(_delivery(n, lane="stuck"))
    for n in range(5, 8):
        lanes.submit(_delivery(n, lane="other"))
    lanes.submit(_delivery(8, lane="alone"))
    await async_wait_until(lambda: len(recorder.started) == 3, timeout=5)

    assert sorted((head.raw, count) for head, count in lanes.waiting_behind()) == [(0, 4), (5, 2)]

    gate.set()
    assert await lanes.wait_idle(5)
    assert list(lanes.waiting_behind()) == []
