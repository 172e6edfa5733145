"""``Lanes``: per-lane order, bounded concurrency; discard/finish/cancel never ack unfinished."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from cqrs_worker.worker.backoff import backoff
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


class Retrying:
    """A pipeline whose deliveries in ``failing`` fail each attempt and wait in their retry
    backoff (``delay`` seconds) until ``release`` is set; it counts the attempts running
    (each suspends a few times) and the deliveries waiting between attempts."""

    def __init__(self, failing: set[int], *, delay: float = 0.005) -> None:
        self.failing = failing
        self.delay = delay
        self.release = asyncio.Event()
        self.started: list[int] = []
        self.done: list[Delivery] = []
        self.attempting = 0
        self.peak = 0
        self.resting = 0
        self.peak_resting = 0

    async def _attempt(self) -> None:
        self.attempting += 1
        self.peak = max(self.peak, self.attempting)
        try:
            for _ in range(3):
                await asyncio.sleep(0)
        finally:
            self.attempting -= 1

    async def __call__(self, delivery: Delivery) -> None:
        self.started.append(delivery.raw)
        await self._attempt()
        while delivery.raw in self.failing and not self.release.is_set():
            self.resting += 1
            self.peak_resting = max(self.peak_resting, self.resting)
            try:
                await backoff(self.delay)
            finally:
                self.resting -= 1
            await self._attempt()

    def on_done(self, delivery: Delivery) -> None:
        self.done.append(delivery)


async def test_a_delivery_waiting_between_attempts_lets_other_lanes_run_with_one_slot() -> None:
    pipeline = Retrying(failing={0})
    lanes = Lanes(pipeline, pipeline.on_done, concurrency=1)
    lanes.submit(_delivery(0, lane="stuck"))
    lanes.submit(_delivery(1, lane="stuck"))
    for n in range(2, 52):
        lanes.submit(_delivery(n, lane=f"other-{n % 5}"))

    def others_done() -> int:
        return sum(1 for d in pipeline.done if d.lane != "stuck")

    # Before: the retrying delivery kept the only slot while it slept, and nothing else ran.
    await async_wait_until(
        lambda: others_done() == 50,
        timeout=10,
        message=lambda: f"{others_done()} of the other 50 handled while the stuck one retried",
    )
    assert 1 not in pipeline.started, "its lane's next delivery waits while it retries"
    assert not any(d.lane == "stuck" for d in pipeline.done)

    pipeline.release.set()
    assert await lanes.wait_idle(10)
    assert [d.raw for d in pipeline.done if d.lane == "stuck"] == [0, 1]
    assert pipeline.peak == 1, "never more than one attempt running"


async def test_concurrency_bounds_attempts_not_deliveries_waiting_to_retry() -> None:
    pipeline = Retrying(failing=set(range(0, 200, 2)))
    lanes = Lanes(pipeline, pipeline.on_done, concurrency=3)
    for n in range(200):
        lanes.submit(_delivery(n, lane=n % 40))

    await async_wait_until(
        lambda: pipeline.peak_resting > 3,
        timeout=10,
        message=lambda: f"at most {pipeline.peak_resting} waiting to retry at once",
    )
    pipeline.release.set()
    assert await lanes.wait_idle(10)
    assert pipeline.peak == 3
    per_lane: dict[object, list[int]] = defaultdict(list)
    for delivery in pipeline.done:
        per_lane[delivery.lane].append(delivery.raw)
    assert sorted(d.raw for d in pipeline.done) == list(range(200))
    assert all(numbers == sorted(numbers) for numbers in per_lane.values())


async def test_a_delivery_cancelled_while_waiting_to_retry_is_never_done() -> None:
    pipeline = Retrying(failing={0}, delay=3600)
    lanes = Lanes(pipeline, pipeline.on_done, concurrency=1)
    lanes.submit(_delivery(0, lane="stuck"))
    lanes.submit(_delivery(1, lane="stuck"))
    lanes.submit(_delivery(2, lane="other"))
    await async_wait_until(lambda: len(pipeline.done) == 1, timeout=5)
    assert pipeline.resting == 1

    assert await lanes.finish(lambda d: d.lane == "stuck", timeout=0) == 1
    assert await lanes.wait_idle(5)
    assert [d.raw for d in pipeline.done] == [2]
