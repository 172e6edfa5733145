"""R2: consumer-group bounce with 3 worker processes, 8 partitions, 20,000 events.

Phase 1: 12,000 events produced while workers are restarted 5 times in a
rolling fashion (SIGTERM, wait for exit 0, start a replacement, wait until it
runs): every event handled exactly once (clean shutdowns and the rebalances
they cause commit finished work and nothing else). Phase 2: 8,000 more while
3 workers are SIGKILLed (and replaced): nothing lost; redeliveries allowed.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time

import pytest

from tests.reliability.worker.rig import Rig, numbered
from tests.support.kafka import create_topic
from tests.support.processes import ManagedProcess
from tests.support.waiting import async_wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(420)]

PARTITIONS = 8
PHASE_1 = 12_000
PHASE_2 = 8_000
RESTARTS = 5
KILLS = 3
WORKER_ENV = {
    "CQRS_WORKER_CONCURRENCY": "32",
    "CQRS_WORKER_SHUTDOWN_TIMEOUT": "10",
    "RELIABILITY_SECONDS": "0.002",
}


class Group:
    """Three live workers; replacements get fresh names."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.names = (f"worker-{n}" for n in itertools.count(1))
        self.live: list[ManagedProcess] = []

    async def start(self) -> ManagedProcess:
        worker = self.rig.start_worker(next(self.names), **WORKER_ENV)
        await worker.await_line("running: sources kafka", timeout=90)
        self.live.append(worker)
        return worker

    async def replace(self, index: int, sig: signal.Signals) -> float:
        victim = self.live.pop(index % len(self.live))
        started = time.monotonic()
        victim.send_signal(sig)
        code = await victim.wait_async(30)
        assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL), victim.tail()
        await self.start()
        return time.monotonic() - started


async def _produce(rig: Rig, seqs: range, per_second: int) -> None:
    chunk = max(1, per_second // 5)
    for start in range(seqs.start, seqs.stop, chunk):
        await rig.produce([numbered(n) for n in range(start, min(start + chunk, seqs.stop))])
        await asyncio.sleep(0.2)  # a steady flow while workers come and go


async def test_rolling_sigterm_restarts_lose_and_repeat_nothing_and_sigkill_loses_nothing(
    rig: Rig,
) -> None:
    began = time.monotonic()
    await create_topic(rig.kafka, rig.topic, PARTITIONS)
    group = Group(rig)
    for _ in range(3):
        await group.start()

    producing = asyncio.create_task(_produce(rig, range(PHASE_1), per_second=600))
    restart_times = [await group.replace(n, signal.SIGTERM) for n in range(RESTARTS)]
    await producing
    await async_wait_until(
        lambda: len(rig.lines()) >= PHASE_1,
        timeout=120,
        message=lambda: f"{len(rig.lines())} of {PHASE_1} handled",
    )
    await async_wait_until_committed(rig)
    phase_1 = rig.lines()
    duplicates = {seq: n for seq, n in phase_1.items() if n > 1}
    assert set(phase_1) == set(range(PHASE_1)), "lost events"
    assert duplicates == {}, f"{len(duplicates)} handled more than once: " + ", ".join(
        f"{seq} by {rig.handled_by(seq)}" for seq in list(duplicates)[:10]
    )
    phase_1_seconds = time.monotonic() - began

    producing = asyncio.create_task(_produce(rig, range(PHASE_1, PHASE_1 + PHASE_2), 800))
    for n in range(KILLS):
        target = len(rig.lines()) + 400
        await async_wait_until(lambda t=target: len(rig.lines()) >= t, timeout=60)  # type: ignore[misc]
        await group.replace(n, signal.SIGKILL)
    await producing
    total = PHASE_1 + PHASE_2
    await async_wait_until(
        lambda: len(rig.lines()) >= total,
        timeout=120,
        message=lambda: f"{len(rig.lines())} of {total} handled",
    )
    handled = rig.lines()
    assert set(handled) == set(range(total)), "lost events"
    redelivered = sum(n - 1 for seq, n in handled.items() if seq >= PHASE_1)
    for worker in group.live:
        worker.terminate()
    for worker in group.live:
        assert await worker.wait_async(30) == 0, worker.tail()
    print(
        f"R2: phase 1 (5 SIGTERM restarts, {PHASE_1} events) 0 lost, 0 duplicates in "
        f"{phase_1_seconds:.0f}s (restarts took {', '.join(f'{t:.1f}' for t in restart_times)}s); "
        f"phase 2 (3 SIGKILLs, {PHASE_2} events) 0 lost, {redelivered} redelivered; "
        f"total {time.monotonic() - began:.0f}s"
    )


async def async_wait_until_committed(rig: Rig) -> None:
    """Until the group committed everything produced (so phase 2 kills cannot repeat phase 1)."""
    deadline = time.monotonic() + 60
    while True:
        lag = await rig.lag(PARTITIONS)
        if not any(lag.values()):
            return
        assert time.monotonic() < deadline, f"still uncommitted after 60s: {lag}"
        await asyncio.sleep(0.5)  # commits are batched about every second
