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

    Before each ``getmany`` it asks :class:`FlowControl` whether the lanes
    have room (waiting up to ``stall_timeout`` seconds, then pausing every
    partition and polling on, so the consumer is not thrown out of its group)
    and which partitions to pause. After each fetch round it wakes the
    committer. ``stats`` counts the records handed over, per topic. ``due``
    holds back delayed retry topics until their records are due.
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
        batch_size, due = self._batch_size, self._due
        timeout_ms = int(self._fetch_timeout * 1000)
        while not self.stopping:
            if flow.hold(lanes.pending) and not flow.stalled:
                if await flow.wait_for_room(self._stall_timeout):
                    continue
                flow.stalled = True  # pause everything and keep polling (see FlowControl)
            wait_ms = timeout_ms
            if flow.update(consumer, partitions.values()):
                await flow.wait_for_room(self._fetch_timeout)
                wait_ms = 0  # poll anyway: not polling gets the consumer thrown out
            if due is not None:  # delayed retry topics: resume what is due, wake for the next
                until = due.release(consumer, partitions)
                if until is not None:
                    wait_ms = min(wait_ms, max(1, int(until * 1000)))
            try:
                batch = await consumer.getmany(timeout_ms=wait_ms, max_records=batch_size)
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
