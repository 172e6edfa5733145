"""R5: graceful shutdown with 200 events in flight.

SIGTERM: the worker stops fetching, lets in-flight handlers finish within
``CQRS_WORKER_SHUTDOWN_TIMEOUT``, commits what finished, cancels the rest
(never committed) and exits 0 within the timeout; a new worker of the group
gets exactly what did not finish (and what came after it in its partition).
"""

from __future__ import annotations

import signal
import time

import pytest

from tests.reliability.worker.rig import Rig, numbered
from tests.support.kafka import create_topic
from tests.support.waiting import async_wait_until

pytestmark = [pytest.mark.reliability, pytest.mark.timeout(180)]

EVENTS = 200
PARTITIONS = 4
SHUTDOWN_TIMEOUT = 4.0
#: Closing the consumer and the dead-letter producer after the drain.
CLOSE_MARGIN = 6.0


async def _all_in_flight(rig: Rig, name: str, **env: str) -> None:
    worker = rig.start_worker(name, CQRS_WORKER_CONCURRENCY="256", **env)
    await worker.await_line("running: sources kafka", timeout=60)
    await async_wait_until(
        lambda: len(rig.lines_of(name, "start")) == EVENTS,
        timeout=60,
        message=lambda: f"{len(rig.lines_of(name, 'start'))} of {EVENTS} started",
    )


async def _sigterm(rig: Rig, name: str) -> float:
    [worker] = [w for w in rig.workers if w.name == name]
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert await worker.wait_async(SHUTDOWN_TIMEOUT + CLOSE_MARGIN + 10) == 0, worker.tail()
    elapsed = time.monotonic() - started
    assert "worker stopped; stats:" in worker.output()
    return elapsed


async def test_in_flight_work_finishes_within_the_timeout_and_is_committed(rig: Rig) -> None:
    await create_topic(rig.kafka, rig.topic, PARTITIONS)
    await rig.produce([numbered(n, keys=EVENTS) for n in range(EVENTS)])
    await _all_in_flight(
        rig,
        "first",
        RELIABILITY_SECONDS="1.5",
        CQRS_WORKER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
    )

    elapsed = await _sigterm(rig, "first")

    assert rig.lines_of("first", "done") == set(range(EVENTS))
    assert elapsed < SHUTDOWN_TIMEOUT + CLOSE_MARGIN
    assert await rig.lag(PARTITIONS) == dict.fromkeys(range(PARTITIONS), 0)
    print(f"R5 (finishes): SIGTERM to exit 0 in {elapsed:.1f}s with {EVENTS} in flight")


async def test_work_that_cannot_finish_is_not_committed_and_is_redelivered(rig: Rig) -> None:
    await create_topic(rig.kafka, rig.topic, PARTITIONS)
    # Every fifth event takes far longer than the shutdown timeout; one key per event,
    # so all 200 run at once.
    await rig.produce([numbered(n, slow=n % 5 == 0, keys=EVENTS) for n in range(EVENTS)])
    await _all_in_flight(
        rig,
        "first",
        RELIABILITY_SECONDS="0.5",
        RELIABILITY_SLOW_SECONDS="600",
        CQRS_WORKER_SHUTDOWN_TIMEOUT=str(SHUTDOWN_TIMEOUT),
    )
    slow = {n for n in range(EVENTS) if n % 5 == 0}

    elapsed = await _sigterm(rig, "first")

    finished = rig.lines_of("first", "done")
    assert finished == set(range(EVENTS)) - slow  # the quick ones finished, the slow did not
    assert elapsed < SHUTDOWN_TIMEOUT + CLOSE_MARGIN
    lag = await rig.lag(PARTITIONS)
    assert sum(lag.values()) >= len(slow)  # nothing past an unfinished event was committed

    second = rig.start_worker("second")
    await second.await_line("running: sources kafka", timeout=60)
    await async_wait_until(
        lambda: slow <= rig.lines_of("second", "done"),
        timeout=60,
        message=lambda: f"redelivered so far: {sorted(rig.lines_of('second', 'done'))[:20]}",
    )
    await async_wait_until(lambda: sum(rig.lines().values()) >= EVENTS, timeout=30)
    assert set(rig.lines()) == set(range(EVENTS))
    second.terminate()
    assert await second.wait_async(30) == 0
    assert await rig.lag(PARTITIONS) == dict.fromkeys(range(PARTITIONS), 0)
    redelivered = rig.lines_of("second", "done")
    print(
        f"R5 (cancelled): SIGTERM to exit 0 in {elapsed:.1f}s; {len(slow)} unfinished "
        f"redelivered ({len(redelivered)} in all, incl. later ones of their partitions)"
    )
