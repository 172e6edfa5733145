"""The delayed-retry tests' worker target (``cqrs-worker run ...delayed_app:mediator``) and checks.

``Work`` logs each attempt and each success with the wall-clock time, so the
test reads from the worker's output when every attempt of a job ran: a job
with ``fail=K`` fails its first K attempts, ``fail=-1`` every one.
"""

from __future__ import annotations

import logging
import re
import time

import pydantic

from cqrs_worker import DefaultContainer, EventMap, EventMediator, NotificationEvent
from cqrs_worker.bootstrap import bootstrap_events

logger = logging.getLogger("shop.work")

#: The in-place policy and the stages of these tests: two attempts per stage, then 1 s, then 2 s.
SETTINGS = {
    "CQRS_WORKER_MAX_ATTEMPTS": "2",
    "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
    "CQRS_WORKER_RETRY_MAX_DELAY": "0.02",
    "CQRS_WORKER_RETRY_TOPICS": "1s,2s",
    "CQRS_WORKER_HEALTH_PORT": "0",
    "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
}
STAGE_DELAYS = (1.0, 2.0)

_ATTEMPT = re.compile(r"attempt (\d+) of job (\d+) at ([\d.]+)")
_HANDLED = re.compile(r"handled job (\d+) at ([\d.]+)")


class Job(pydantic.BaseModel):
    n: int
    fail: int = 0


class JobPlaced(NotificationEvent[Job]):
    event_name: str = "JobPlaced"
    topic: str = "jobs"


_attempts: dict[int, int] = {}


class Work:
    async def handle(self, event: JobPlaced) -> None:
        n, fail = event.payload.n, event.payload.fail
        attempt = _attempts[n] = _attempts.get(n, 0) + 1
        logger.info("attempt %d of job %d at %.3f", attempt, n, time.time())
        if fail < 0 or attempt <= fail:
            raise RuntimeError(f"job {n} failed on attempt {attempt}")
        logger.info("handled job %d at %.3f", n, time.time())


def mediator() -> EventMediator:
    events = EventMap()
    events.bind(JobPlaced, Work)
    return bootstrap_events(events=events, container=DefaultContainer(), middlewares=())


def job(topic: str, n: int, *, key: str, fail: int = 0) -> JobPlaced:
    return JobPlaced(topic=topic, partition_key=key, payload=Job(n=n, fail=fail))


def attempts(output: str) -> dict[int, list[float]]:
    """When each attempt of each job started, in order."""
    found: dict[int, list[float]] = {}
    for match in _ATTEMPT.finditer(output):
        found.setdefault(int(match.group(2)), []).append(float(match.group(3)))
    return found


def handled(output: str) -> dict[int, float]:
    """When each job was handled."""
    return {int(m.group(1)): float(m.group(2)) for m in _HANDLED.finditer(output)}


def assert_waited(before: float, after: float, delay: float, *, slack: float = 10.0) -> float:
    """``after`` came no earlier than ``delay`` after ``before``, and not far past it."""
    waited = after - before
    assert waited >= delay, f"handled after {waited:.3f}s, before the {delay}s delay"
    assert waited <= delay + slack, f"handled after {waited:.3f}s, long past the {delay}s delay"
    return waited


def assert_stages_kept_time_and_order_let_go(output: str) -> str:
    """The checks both transports share, on the worker's output; returns the measured delays.

    Job 1 (``fail=2``) was tried twice, then once more after the 1 s stage;
    jobs 2 and 3 (published with it; 2 has its key) were handled before it;
    job 99 (``fail=-1``) waited 1 s and then 2 s between its pairs of
    attempts; jobs 4 and 5 (published while it waited on the 2 s stage) were
    handled before its fifth attempt.
    """
    tries, done = attempts(output), handled(output)
    assert len(tries[1]) == 3
    job1 = assert_waited(tries[1][1], tries[1][2], STAGE_DELAYS[0])
    assert done[2] < done[1], "the next job of the moved one's key waited for it"
    assert done[3] < done[1]
    assert len(tries[99]) == 6
    stage1 = assert_waited(tries[99][1], tries[99][2], STAGE_DELAYS[0])
    stage2 = assert_waited(tries[99][3], tries[99][4], STAGE_DELAYS[1])
    assert done[4] < tries[99][4], "a job of the waiting one's key did not flow meanwhile"
    assert done[5] < tries[99][4]
    return f"job 1 {job1:.3f}s (1s stage); job 99 {stage1:.3f}s (1s), {stage2:.3f}s (2s)"
