"""R12: ``cqrs-worker run --workers 2``, one command for two processes of one group.

SIGTERM to the supervisor mid-run: both children stop gracefully, what they
finished is committed, and the rest is handled by the next run -- nothing
lost, nothing handled twice. SIGKILL of one child mid-run: the supervisor
restarts it and every event is still handled (redeliveries allowed); the
supervisor's health port reports both children's readiness and metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import time

import pytest

from cqrs_worker.worker.health import probe
from tests.reliability.worker.rig import Rig, numbered
from tests.support.kafka import create_topic
from tests.support.net import free_port
from tests.support.processes import ManagedProcess
from tests.support.waiting import async_wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(240)]

PARTITIONS = 4
RUNNING = "running: sources kafka"


async def _running(worker: ManagedProcess, count: int) -> None:
    await async_wait_until(
        lambda: worker.output().count(RUNNING) >= count,
        timeout=90,
        message=lambda: (
            f"{worker.output().count(RUNNING)} of {count} children running\n" + worker.tail()
        ),
    )


def _health_ports(count: int) -> int:
    """A port with the ``count - 1`` above it free too (the supervisor's and the children's)."""
    for _ in range(50):
        base = free_port()
        with contextlib.ExitStack() as stack:
            try:
                for port in range(base, base + count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return base
    raise RuntimeError(f"no {count} free ports in a row")


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        return probe("127.0.0.1", port, path, timeout=5)
    except OSError as exc:
        return 0, str(exc)


def _child_pids(worker: ManagedProcess) -> dict[int, list[int]]:
    pids: dict[int, list[int]] = {}
    for n, pid in re.findall(r"worker process (\d+) started \(pid (\d+)\)", worker.output()):
        pids.setdefault(int(n), []).append(int(pid))
    return pids


async def test_sigterm_to_the_supervisor_stops_every_child_gracefully(rig: Rig) -> None:
    events = 400
    await create_topic(rig.kafka, rig.topic, PARTITIONS)
    await rig.produce([numbered(n, keys=events) for n in range(events)])
    supervisor = rig.start_worker(
        "first",
        "--workers",
        "2",
        CQRS_WORKER_CONCURRENCY="8",
        CQRS_WORKER_BATCH_SIZE="20",  # at most 40 fetched ahead per child: stopped mid-run
        CQRS_WORKER_SHUTDOWN_TIMEOUT="10",
        RELIABILITY_SECONDS="0.2",
    )
    await _running(supervisor, 2)
    await async_wait_until(lambda: len(rig.lines()) >= 60, timeout=60)

    started = time.monotonic()
    supervisor.send_signal(signal.SIGTERM)
    assert await supervisor.wait_async(60) == 0, supervisor.tail()
    stopped_in = time.monotonic() - started
    assert "all 2 worker processes stopped" in supervisor.output()
    assert supervisor.output().count("worker stopped; stats:") == 2  # each child stopped itself
    first_run = rig.lines()
    assert set(first_run) == set(rig.lines("start"))  # whatever started, finished
    assert len(first_run) < events  # stopped mid-run

    second = rig.start_worker("second", "--workers", "2", CQRS_WORKER_CONCURRENCY="64")
    await async_wait_until(
        lambda: len(rig.lines()) >= events,
        timeout=90,
        message=lambda: f"{len(rig.lines())} of {events} handled",
    )
    second.terminate()
    assert await second.wait_async(60) == 0, second.tail()
    handled = rig.lines()
    assert set(handled) == set(range(events)), "lost events"
    duplicates = {seq: n for seq, n in handled.items() if n > 1}
    assert duplicates == {}, f"handled again after a graceful stop: {sorted(duplicates)[:20]}"
    assert await rig.lag(PARTITIONS) == dict.fromkeys(range(PARTITIONS), 0)
    print(
        f"R12 (SIGTERM): 2 children stopped gracefully in {stopped_in:.1f}s with "
        f"{len(first_run)} of {events} handled; the rest by the next run; 0 lost, 0 twice"
    )


async def test_a_sigkilled_child_is_restarted_and_nothing_is_lost(rig: Rig) -> None:
    events = 1200
    await create_topic(rig.kafka, rig.topic, PARTITIONS)
    port = _health_ports(3)
    supervisor = rig.start_worker(
        "workers",
        "--workers",
        "2",
        CQRS_WORKER_CONCURRENCY="16",
        CQRS_WORKER_HEALTH_PORT=str(port),
        CQRS_WORKER_HEALTH_HOST="127.0.0.1",
        RELIABILITY_SECONDS="0.01",
    )
    await _running(supervisor, 2)
    await async_wait_until(
        lambda: _get(port, "/readyz")[0] == 200,
        timeout=30,
        message=lambda: f"supervisor /readyz: {_get(port, '/readyz')}",
    )

    async def produce() -> None:
        for start in range(0, events, 100):
            await rig.produce([numbered(n) for n in range(start, start + 100)])
            await asyncio.sleep(0.2)  # a steady flow while a child dies and comes back

    producing = asyncio.create_task(produce())
    await async_wait_until(lambda: len(rig.lines()) >= 200, timeout=60)
    [victim] = _child_pids(supervisor)[0]
    killed_at = time.monotonic()

    os.kill(victim, signal.SIGKILL)
    await async_wait_until(
        lambda: len(_child_pids(supervisor)[0]) == 2,
        timeout=30,
        message=lambda: supervisor.tail(),
    )
    await _running(supervisor, 3)  # the replacement joined the group
    back_in = time.monotonic() - killed_at
    await producing
    await async_wait_until(
        lambda: len(rig.lines()) >= events,
        timeout=120,
        message=lambda: f"{len(rig.lines())} of {events} handled\n{supervisor.tail()}",
    )
    assert "exited with signal SIGKILL" in supervisor.output()
    await async_wait_until(lambda: _get(port, "/readyz")[0] == 200, timeout=30)
    assert _get(port, "/livez")[0] == 200
    status, metrics = _get(port, "/metrics")
    assert status == 200
    for n in (0, 1):  # both children's counters, the restarted one's too
        assert re.search(
            rf'cqrs_worker_messages_received_total{{[^}}]*worker="{n}"[^}}]*}} [1-9]', metrics
        ), metrics[:2000]

    supervisor.send_signal(signal.SIGTERM)
    assert await supervisor.wait_async(60) == 0, supervisor.tail()
    handled = rig.lines()
    assert set(handled) == set(range(events)), "lost events"
    assert await rig.lag(PARTITIONS) == dict.fromkeys(range(PARTITIONS), 0)
    redelivered = sum(n - 1 for n in handled.values())
    print(
        f"R12 (SIGKILL): child restarted and running again {back_in:.1f}s after the kill; "
        f"{events} events, 0 lost, {redelivered} redelivered"
    )
