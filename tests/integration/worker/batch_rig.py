"""What the batch-handler process tests on Kafka and RabbitMQ share: the events, the worker
process (:mod:`tests.integration.worker.batch_app`) and the exactly-once check."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path

from tests.integration.worker.batch_app import Counted, Item
from tests.support.processes import ManagedProcess, ProcessSet

EVENTS = 2000
POISON = 1234


def events(topic: str) -> list[Counted]:
    return [Counted(topic=topic, payload=Item(seq=n, poison=n == POISON)) for n in range(EVENTS)]


def start(processes: ProcessSet, out: Path, settings: Mapping[str, str]) -> ManagedProcess:
    return processes.start_python(
        ["-m", "cqrs_worker.cli", "run", "tests.integration.worker.batch_app:build", "--factory"],
        name="batch-worker",
        env={
            "BATCH_APP_OUT": str(out),
            "CQRS_WORKER_HEALTH_PORT": "0",
            "CQRS_WORKER_MAX_ATTEMPTS": "2",
            "CQRS_WORKER_RETRY_INITIAL_DELAY": "0.01",
            "CQRS_WORKER_RETRY_MAX_DELAY": "0.05",
            "CQRS_WORKER_SHUTDOWN_TIMEOUT": "5",
            **settings,
        },
    )


def count_done(out: Path) -> int:
    return out.read_text().count("done ") if out.exists() else 0


async def wait_done(out: Path, worker: ManagedProcess, expected: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = await asyncio.to_thread(count_done, out)
        if done >= expected:
            return
        assert worker.running, f"the worker exited:\n{worker.tail()}"
        assert time.monotonic() < deadline, f"{done} of {expected} events handled"
        await asyncio.sleep(0.2)  # a file has no event to wait on


def check_exactly_once(out: Path, output: str, *, split: bool = True) -> None:
    """Each event but the poison handled once, batches seen, the poison dead-lettered alone
    (``split``: out of a batch that failed; RabbitMQ may hand it over alone, timing decides)."""
    handled = Counter(int(line.split()[1]) for line in out.read_text().splitlines())
    assert set(handled) == set(range(EVENTS)) - {POISON}
    assert max(handled.values()) == 1, "an event handled twice"
    sizes = [int(size) for size in re.findall(r"handle_batch of (\d+)", output)]
    assert max(sizes) > 1, "the handler received batches"
    assert not split or "splitting it to find the failing event" in output
    assert output.count("dead-lettering Counted") == 1
    stats = f"received={EVENTS}, handled={EVENTS - 1}, retried=1, dead_lettered=1"
    assert f"worker stopped; stats: {stats}" in output
