"""The Kafka source's fetch loop: :class:`Fetcher`."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka.errors import ConsumerStoppedError, KafkaError

from cqrs_worker.worker.kafka.assignment import Assignment
from cqrs_worker.worker.kafka.committer import Committer
from cqrs_worker.worker.kafka.due import DueGate
from cqrs_worker.worker.kafka.flow import FlowControl
from cqrs_worker.worker.stats import WorkerStats

__all__ = ["Fetcher"]

logger = logging.getLogger(__name__)


class Fetcher:
    """Fetches up to ``batch_size`` records at a time and hands them to the assignment.

    Before each ``getmany`` it asks :class:`FlowControl` which partitions may
    be fetched and how many records (under pressure only those whose work
    drains; when none may, it waits up to ``stall_timeout`` seconds, then
    pauses them and polls on, so the consumer is not thrown out of its group).
    Under pressure it takes only what is already fetched and otherwise waits
    until a delivery finishes (or ``fetch_timeout``): a long wait for records
    of the fetchable partitions would delay the others as they drain.
    After each fetch round it wakes the committer. ``stats`` counts the
    records handed over, per topic.
    ``due`` holds back delayed retry topics until their records are due.
    """

    def __init__(
        self,
        assignment: Assignment,
        flow: FlowControl,
        *,
        batch_size: int,
        fetch_timeout: float,
        stall_timeout: float,
        stats: WorkerStats,
        due: DueGate | None = None,
    ) -> None:
        self._due = due
        self._assignment = assignment
        self._flow = flow
        self._batch_size = batch_size
        self._fetch_timeout = fetch_timeout
        self._stall_timeout = stall_timeout
        self._stats = stats
        self.stopping = False

    def stop(self) -> None:
        """Take no more records; :meth:`run` returns within ``fetch_timeout``."""
        self.stopping = True
        self._flow.wake()

    async def run(self, consumer: Any, committer: Committer) -> None:
        """Fetch until :meth:`stop` or until the consumer stopped."""
        flow, assignment = self._flow, self._assignment
        lanes, partitions = assignment.lanes, assignment.partitions
        due = self._due
        timeout_ms = int(self._fetch_timeout * 1000)
        while not self.stopping:
            fetch, max_records = flow.plan(
                consumer, partitions.values(), lanes.pending, assignment.count_parked()
            )
            wait_ms = timeout_ms
            if not max_records:
                if not flow.stalled and flow.held:
                    # Nothing may be fetched and nothing is paused: a plain wait.
                    if not await flow.wait_for_room(self._stall_timeout):
                        flow.stalled = True  # pause what holds the backlog, poll on
                    continue
                # Every partition is paused: poll anyway, not polling gets the
                # consumer thrown out of its group.
                await flow.wait_for_room(self._fetch_timeout)
                fetch, max_records, wait_ms = None, self._batch_size, 0
            if due is not None:  # delayed retry topics: resume what is due, wake for the next
                until = due.release(consumer, partitions)
                if until is not None:
                    wait_ms = min(wait_ms, max(1, int(until * 1000)))
            try:
                if fetch is None:
                    batch = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
                else:  # under pressure: what is there now, else wait for data or room
                    batch = await consumer.getmany(*fetch, max_records=max_records)
                    if not batch:
                        await flow.wait_for_room(self._fetch_timeout)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                logger.error("fetching from Kafka failed (%s: %s)", type(exc).__name__, exc)
                await flow.wait_for_room(1.0)
                continue
            if batch and due is not None:
                batch = due.admit(consumer, batch)
            if batch and not self.stopping:
                assignment.dispatch(batch, self._stats.add_received)
            committer.wake()
