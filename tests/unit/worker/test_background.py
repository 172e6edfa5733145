"""Background loops (``Worker(background=...)``) run while the worker runs, stop with it,
and survive ``replace``; ``collectors`` add families to its registry."""

from __future__ import annotations

import asyncio

from prometheus_client.core import GaugeMetricFamily, Metric

from cqrs_worker.worker.app import Worker
from tests.support.waiting import async_wait_until
from tests.unit.worker.sample import Journal, mediator
from tests.unit.worker.test_app import Memory, settings


class Loop:
    def __init__(self) -> None:
        self.ticks = 0
        self.stopped = False

    async def __call__(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.ticks += 1
            await asyncio.sleep(0.001)
        self.stopped = True


class Constant:
    def collect(self) -> list[Metric]:
        return [GaugeMetricFamily("cqrs_worker_test_constant", "A constant for the test", value=3)]


async def test_a_background_loop_runs_with_the_worker_and_stops_with_it() -> None:
    loop = Loop()
    built = Worker(
        mediator(Journal()),
        settings(),
        sources=[Memory()],
        background=[loop],
        collectors=[Constant()],
    )
    worker = built.replace(settings(concurrency=2))
    async with worker.running():
        await async_wait_until(lambda: loop.ticks > 3, timeout=10)
        assert "cqrs_worker_test_constant 3.0" in worker.metrics()
    assert loop.stopped
